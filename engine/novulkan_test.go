package engine_test

import (
	"errors"
	"os"
	"os/exec"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vkinfer/vkinfer/engine"
)

// The subprocess half of TestNoVulkan: it runs with a broken environment and
// reports through its exit status.
func TestMain(m *testing.M) {
	if os.Getenv("VKINFER_TEST_NOVULKAN") == "1" {
		_, err := engine.Open(engine.Options{})
		if err == nil {
			os.Stderr.WriteString("Open succeeded without Vulkan\n")
			os.Exit(10)
		}
		os.Stderr.WriteString(err.Error() + "\n")
		if !errors.Is(err, engine.ErrNoVulkan) {
			os.Exit(11)
		}
		if _, err := engine.ListDevices(); !errors.Is(err, engine.ErrNoVulkan) {
			os.Exit(12)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// No loader, or a loader without a driver, is engine.ErrNoVulkan with a
// message saying what to install — never a crash.
func TestNoVulkan(t *testing.T) {
	for _, c := range []struct {
		name string
		env  []string
		want string
	}{
		{"no loader", []string{"VKINFER_VULKAN_LIBRARY=/nonexistent/libvulkan.so.1"}, "cannot open the Vulkan loader named by VKINFER_VULKAN_LIBRARY: /nonexistent/libvulkan.so.1: cannot open shared object file"},
		{"no driver", []string{"VK_ICD_FILENAMES=/nonexistent/icd.json", "VK_DRIVER_FILES=/nonexistent/icd.json"}, "apt-get install"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), append(c.env, "VKINFER_TEST_NOVULKAN=1")...)
			out, err := cmd.CombinedOutput()
			require.NoError(t, err, "subprocess: %s", out)
			require.Contains(t, string(out), c.want)
			require.Contains(t, string(out), "no usable Vulkan device")
		})
	}
}
