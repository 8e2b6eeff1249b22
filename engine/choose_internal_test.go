package engine

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// Of two CPU drivers the faster, lavapipe, is chosen in either order, and
// ChoiceReason says why.
func TestChooseRanksDriversOfOneType(t *testing.T) {
	swift := DeviceInfo{Name: "SwiftShader Device (Subzero)", Type: TypeCPU, DriverID: DriverSwiftShader}
	lvp := DeviceInfo{Name: "llvmpipe (LLVM 15)", Type: TypeCPU, DriverID: DriverLavapipe}
	gpu := DeviceInfo{Name: "NVIDIA GeForce RTX 4090", Type: TypeDiscrete, DriverID: DriverNVIDIA}
	gpu2 := DeviceInfo{Name: "NVIDIA GeForce RTX 3060", Type: TypeDiscrete, DriverID: DriverNVIDIA}
	list := func(ds ...DeviceInfo) []DeviceInfo {
		for i := range ds {
			ds[i].Index = i
		}
		return ds
	}
	for _, c := range []struct {
		infos  []DeviceInfo
		want   int
		reason string
	}{
		{list(swift, lvp), 1, "of the CPU drivers, lavapipe runs vkinfer several times faster than SwiftShader"},
		{list(lvp, swift), 0, "of the CPU drivers, lavapipe runs vkinfer several times faster than SwiftShader"},
		{list(swift), 0, "the only usable device"},
		{list(swift, lvp, gpu), 2, "the best device type here (discrete GPU; discrete > integrated > virtual GPU > CPU)"},
		{list(gpu, gpu2, lvp), 0, "the first of 2 devices of the best type here (discrete GPU)"},
	} {
		got, err := Choose(c.infos, "")
		require.NoError(t, err)
		require.Equal(t, c.want, got, "%v", c.infos)
		require.Equal(t, c.reason, ChoiceReason(c.infos, got))
	}
	_, err := Choose(list(lvp), "3")
	require.ErrorContains(t, err, "(1 device: 0=")
	_, err = Choose(list(lvp, swift), "3")
	require.ErrorContains(t, err, "(2 devices: 0=")
}

// With no device, a set VK_ICD_FILENAMES that names a missing file is the
// first thing the help names.
func TestNoVulkanHelpNamesDriverVariables(t *testing.T) {
	t.Setenv("VK_ICD_FILENAMES", "/nonexistent.json")
	t.Setenv("VK_DRIVER_FILES", "")
	h := noVulkanHelp()
	require.Contains(t, h, "VK_ICD_FILENAMES=/nonexistent.json names driver manifest(s) that do not exist (/nonexistent.json): fix or unset VK_ICD_FILENAMES")
	require.Contains(t, h, "apt-get install")

	existing := t.TempDir()
	t.Setenv("VK_ICD_FILENAMES", "")
	t.Setenv("VK_DRIVER_FILES", existing)
	require.Contains(t, noVulkanHelp(), "VK_DRIVER_FILES="+existing+" limits the loader to the driver(s) it names")

	t.Setenv("VK_DRIVER_FILES", "")
	require.Equal(t, installHelp, noVulkanHelp())
}
