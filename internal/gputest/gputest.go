// Package gputest gives tests their Vulkan device: one helper that opens the
// device with the Khronos validation layer on and fails the test on any
// validation message. Without Vulkan it skips the test, unless
// VKINFER_REQUIRE_DEVICE=1 (CI sets it), where a missing device fails.
// VKINFER_EXPECT_DEVICE=<name substring> makes a test on any other device
// fail, so a CI pass meant for one driver cannot silently use another.
//
// Safe for concurrent use by parallel tests.
package gputest

import (
	"errors"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/vkinfer/vkinfer/engine"
)

// Required reports whether VKINFER_REQUIRE_DEVICE asks for a device.
func Required() bool {
	v := os.Getenv("VKINFER_REQUIRE_DEVICE")
	return v != "" && v != "0" && !strings.EqualFold(v, "false")
}

// Validation reports whether tests run with the validation layer: on unless
// VKINFER_VALIDATION=0.
func Validation() bool { return os.Getenv("VKINFER_VALIDATION") != "0" }

// Messages collects validation messages of one device.
type Messages struct {
	mu   sync.Mutex
	msgs []string
}

func (m *Messages) add(sev, msg string) {
	m.mu.Lock()
	m.msgs = append(m.msgs, sev+": "+msg)
	m.mu.Unlock()
}

// Take returns and clears the messages so far.
func (m *Messages) Take() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := m.msgs
	m.msgs = nil
	return out
}

// Open opens a device for t with opts (Validation and OnMessage are set here)
// and closes it at the end of the test, failing the test if the validation
// layer said anything.
func Open(t testing.TB, opts engine.Options) *engine.Device {
	t.Helper()
	d, _ := OpenWithMessages(t, opts)
	return d
}

// OpenWithMessages is Open that also returns the message collector, for
// tests that provoke messages on purpose.
func OpenWithMessages(t testing.TB, opts engine.Options) (*engine.Device, *Messages) {
	t.Helper()
	// The Vulkan loader reads these in C; reading them here also makes go
	// test's cache tell one driver's results from another's.
	t.Logf("VK_ICD_FILENAMES=%q VK_DRIVER_FILES=%q VKINFER_DEVICE=%q VKINFER_LIMITS=%q",
		os.Getenv("VK_ICD_FILENAMES"), os.Getenv("VK_DRIVER_FILES"), os.Getenv("VKINFER_DEVICE"), os.Getenv("VKINFER_LIMITS"))
	msgs := &Messages{}
	opts.Validation = Validation()
	opts.OnMessage = msgs.add
	d, err := engine.Open(opts)
	if err != nil {
		if errors.Is(err, engine.ErrNoVulkan) && !Required() {
			t.Skipf("no Vulkan device (set VKINFER_REQUIRE_DEVICE=1 to make this a failure): %v", err)
		}
		t.Fatalf("open Vulkan device: %v", err)
	}
	if want := os.Getenv("VKINFER_EXPECT_DEVICE"); want != "" && !strings.Contains(strings.ToLower(d.Info().Name), strings.ToLower(want)) {
		d.Close()
		t.Fatalf("VKINFER_EXPECT_DEVICE=%q but the test device is %s", want, d.Info())
	}
	t.Cleanup(func() {
		if err := d.Close(); err != nil {
			t.Errorf("close device: %v", err)
		}
		for _, m := range msgs.Take() {
			t.Errorf("validation: %s", m)
		}
	})
	return d, msgs
}

// Require skips t (or fails it when VKINFER_REQUIRE_DEVICE=1) when there is
// no Vulkan device, without opening one: for tests that open devices through
// another API (the root package, the CLI).
func Require(t testing.TB) {
	t.Helper()
	if _, err := engine.ListDevices(); err != nil {
		if errors.Is(err, engine.ErrNoVulkan) && !Required() {
			t.Skipf("no Vulkan device (set VKINFER_REQUIRE_DEVICE=1 to make this a failure): %v", err)
		}
		t.Fatalf("list Vulkan devices: %v", err)
	}
}
