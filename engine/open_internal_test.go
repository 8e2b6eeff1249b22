package engine

import (
	"errors"
	"os"
	"testing"
)

// openInternal opens a device for an internal test (gputest imports this
// package), skipping without Vulkan unless VKINFER_REQUIRE_DEVICE=1.
func openInternal(t *testing.T, opts Options) *Device {
	t.Helper()
	d, err := Open(opts)
	if err != nil {
		if errors.Is(err, ErrNoVulkan) && os.Getenv("VKINFER_REQUIRE_DEVICE") != "1" {
			t.Skip(err)
		}
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}
