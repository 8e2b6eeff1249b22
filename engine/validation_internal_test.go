package engine

import (
	"os"
	"sync/atomic"
	"testing"
)

// The validation layer must be live in tests: a deliberately invalid call
// (a zero-sized buffer) has to reach OnMessage, or "no messages" in other
// tests would prove nothing.
func TestValidationMessagesReachUs(t *testing.T) {
	if os.Getenv("VKINFER_VALIDATION") == "0" {
		t.Skip("VKINFER_VALIDATION=0")
	}
	var n atomic.Int64
	var last atomic.Value
	d := openInternal(t, Options{Validation: true, OnMessage: func(sev, msg string) {
		n.Add(1)
		last.Store(msg)
	}})
	buf, _, err := d.dev.CreateBuffer(0, 0)
	if err == nil {
		d.dev.DestroyBuffer(buf)
	}
	if n.Load() == 0 {
		t.Fatal("an invalid vkCreateBuffer produced no validation message: is the layer enabled?")
	}
	if d.Stats().ValidationMessages == 0 {
		t.Fatal("Stats.ValidationMessages did not count the message")
	}
	t.Logf("got %d message(s), e.g. %v", n.Load(), last.Load())
}
