package engine

import "sync/atomic"

// ArenaStats is the memory of one arena, in bytes.
type ArenaStats struct {
	Allocated int64 // device memory held in the arena's blocks
	InUse     int64 // bytes handed out to live buffers (aligned)
}

// Stats are the device's own accounting. Counters only grow, except the
// live figures.
type Stats struct {
	AllocateCalls      int64 // vkAllocateMemory calls so far
	LiveAllocations    int64 // VkDeviceMemory objects alive now
	Arenas             [numArenas]ArenaStats
	Pipelines          int64 // compute pipelines created
	Recorded           int64 // command buffers recorded
	DescriptorSets     int64 // descriptor sets allocated
	Submits            int64 // queue submissions
	ValidationMessages int64 // messages from the validation layer or driver
}

// Arena returns the figures of one arena.
func (s Stats) Arena(a Arena) ArenaStats { return s.Arenas[a] }

// DeviceBytes is the device memory held by all arenas.
func (s Stats) DeviceBytes() int64 {
	var n int64
	for _, a := range s.Arenas {
		n += a.Allocated
	}
	return n
}

type counters struct {
	allocCalls, liveAllocs              atomic.Int64
	bytesAllocated, bytesInUse          [numArenas]atomic.Int64
	pipelines, recorded, descriptorSets atomic.Int64
	submits, validation                 atomic.Int64
	flushes, invalidates                atomic.Int64 // of non-coherent mapped memory
	uploadBatches                       atomic.Int64 // submissions of queued uploads
}

// Stats returns a snapshot of the device's counters.
func (d *Device) Stats() Stats {
	c := &d.stats
	s := Stats{
		AllocateCalls:      c.allocCalls.Load(),
		LiveAllocations:    c.liveAllocs.Load(),
		Pipelines:          c.pipelines.Load(),
		Recorded:           c.recorded.Load(),
		DescriptorSets:     c.descriptorSets.Load(),
		Submits:            c.submits.Load(),
		ValidationMessages: c.validation.Load(),
	}
	for a := range s.Arenas {
		s.Arenas[a] = ArenaStats{Allocated: c.bytesAllocated[a].Load(), InUse: c.bytesInUse[a].Load()}
	}
	return s
}
