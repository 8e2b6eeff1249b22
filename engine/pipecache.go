package engine

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// The on-disk pipeline cache: the driver's VkPipelineCache data wrapped in a
// header of our own, so a stale or damaged file is recognised before the
// driver sees it (drivers check Vulkan's own header, but not every byte):
//
//	magic "VKIPC001" | sha256 of the rest (32 B) | vendorID, deviceID,
//	driverVersion (u32 LE each) | pipelineCacheUUID (16 B) | driver data
//
// The file name carries the same key, so two devices or driver versions
// never share a file.
const pipeCacheMagic = "VKIPC001"

// pipeCachePath is the cache file of the device, or "" when there is none:
// the cache is off, or the driver is SwiftShader, whose cache data holds no
// compiled pipelines and which, given its own data back, returns it behind
// one more 32-byte header (the file grew by 32 B per open and saved nothing).
func (d *Device) pipeCachePath() string {
	if d.info.DriverID == DriverSwiftShader {
		return ""
	}
	dir := d.opts.PipelineCacheDir
	if dir == "" {
		base, err := os.UserCacheDir()
		if err != nil {
			return ""
		}
		dir = filepath.Join(base, "vkinfer", "pipelines")
	} else if dir == "-" {
		return ""
	}
	i := d.info
	return filepath.Join(dir, fmt.Sprintf("%04x-%04x-%08x-%x.bin", i.VendorID, i.DeviceID, i.DriverVersion, i.PipelineCacheUUID))
}

func (d *Device) pipeCacheKey() []byte {
	var k [12]byte
	binary.LittleEndian.PutUint32(k[0:], d.info.VendorID)
	binary.LittleEndian.PutUint32(k[4:], d.info.DeviceID)
	binary.LittleEndian.PutUint32(k[8:], d.info.DriverVersion)
	return append(k[:], d.info.PipelineCacheUUID[:]...)
}

// maxPipeCacheFile bounds what is read back (driver caches are small).
const maxPipeCacheFile = 256 << 20

// readCacheFile reads a cache file that something else may have replaced:
// it does not follow a symbolic link (O_NOFOLLOW), does not block on a FIFO
// or device (O_NONBLOCK), refuses anything fstat does not call a regular
// file, and never reads more than limit bytes, whatever the size claims.
func readCacheFile(path string, limit int64) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("not a regular file (mode %s)", st.Mode())
	}
	if st.Size() > limit {
		return nil, fmt.Errorf("%d B, over the %d B limit", st.Size(), limit)
	}
	raw, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(raw)) > limit {
		return nil, fmt.Errorf("grew past the %d B limit while read", limit)
	}
	return raw, nil
}

// loadPipeCache returns the driver data of a valid cache file, or nil. A
// damaged or foreign file is reported, removed and ignored; anything at the
// path that is not a regular file (a symbolic link, FIFO, device,
// directory) is reported and left alone, and nothing is saved over it.
func (d *Device) loadPipeCache() []byte {
	path := d.pipeCachePath()
	if path == "" {
		return nil
	}
	raw, err := readCacheFile(path, maxPipeCacheFile)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			d.log.Warn("vkinfer: ignoring pipeline cache file", "path", path, "reason", err)
		}
		return nil
	}
	key := d.pipeCacheKey()
	hdr := len(pipeCacheMagic) + sha256.Size + len(key)
	bad := func(why string) []byte {
		d.log.Warn("vkinfer: ignoring pipeline cache file", "path", path, "reason", why)
		_ = os.Remove(path)
		return nil
	}
	if len(raw) < hdr || string(raw[:len(pipeCacheMagic)]) != pipeCacheMagic {
		return bad("not a vkinfer pipeline cache")
	}
	sum := sha256.Sum256(raw[len(pipeCacheMagic)+sha256.Size:])
	if !bytes.Equal(sum[:], raw[len(pipeCacheMagic):len(pipeCacheMagic)+sha256.Size]) {
		return bad("checksum mismatch (damaged)")
	}
	if !bytes.Equal(raw[len(pipeCacheMagic)+sha256.Size:hdr], key) {
		return bad("made for another device or driver")
	}
	return raw[hdr:]
}

// savePipeCache writes the driver's cache data if it changed since load.
func (d *Device) savePipeCache() {
	path := d.pipeCachePath()
	if path == "" || d.pipes.created == 0 {
		return
	}
	if st, err := os.Lstat(path); err == nil && !st.Mode().IsRegular() {
		return // not ours: loadPipeCache said so; never replace it
	}
	data, err := d.dev.PipelineCacheData(d.pipes.cache)
	if err != nil || len(data) == 0 {
		return
	}
	body := append(d.pipeCacheKey(), data...)
	sum := sha256.Sum256(body)
	out := append(append([]byte(pipeCacheMagic), sum[:]...), body...)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		d.log.Debug("vkinfer: pipeline cache not saved", "err", err)
		return
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".pipecache-*")
	if err != nil {
		d.log.Debug("vkinfer: pipeline cache not saved", "err", err)
		return
	}
	_, werr := tmp.Write(out)
	cerr := tmp.Close()
	if werr != nil || cerr != nil || os.Rename(tmp.Name(), path) != nil {
		_ = os.Remove(tmp.Name())
	}
}
