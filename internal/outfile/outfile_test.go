package outfile

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// failing writes half its data, then fails, as a full disk would.
func failing(w io.Writer) error {
	if _, err := w.Write([]byte("half of the new")); err != nil {
		return err
	}
	return errors.New("no space left on device (simulated)")
}

func entries(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	require.NoError(t, err)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

func TestFailedWriteKeepsTheOldFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "out.npy")
	require.NoError(t, os.WriteFile(path, []byte("old contents"), 0o600))
	err := Write(path, failing)
	require.ErrorContains(t, err, "simulated")
	got, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, "old contents", string(got))
	require.Equal(t, []string{"out.npy"}, entries(t, dir), "the temporary file was left behind")

	// A missing file stays missing.
	require.Error(t, Write(filepath.Join(dir, "new.npy"), failing))
	require.Equal(t, []string{"out.npy"}, entries(t, dir))

	// Success replaces the file and keeps its mode.
	require.NoError(t, Write(path, func(w io.Writer) error { _, err := io.WriteString(w, "new"); return err }))
	got, _ = os.ReadFile(path)
	require.Equal(t, "new", string(got))
	st, err := os.Stat(path)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), st.Mode().Perm())
}

func TestDevicesAreWrittenInPlaceNeverReplaced(t *testing.T) {
	for _, dev := range []string{"/dev/null", "/dev/full"} {
		st, err := os.Stat(dev)
		if err != nil {
			t.Skipf("no %s", dev)
		}
		require.NoError(t, Check(dev))
		err = Write(dev, func(w io.Writer) error { _, err := w.Write(make([]byte, 1<<16)); return err })
		if dev == "/dev/full" {
			require.Error(t, err, "writing to /dev/full must fail")
		} else {
			require.NoError(t, err)
		}
		after, err := os.Stat(dev)
		require.NoError(t, err, "%s removed", dev)
		require.Equal(t, st.Mode(), after.Mode(), "%s replaced", dev)
		require.True(t, os.SameFile(st, after))
	}
}

func TestSymlinkKeepsPointing(t *testing.T) {
	dir := t.TempDir()
	real := filepath.Join(dir, "real.npy")
	link := filepath.Join(dir, "link.npy")
	require.NoError(t, os.WriteFile(real, []byte("old"), 0o644))
	require.NoError(t, os.Symlink("real.npy", link))
	require.NoError(t, Write(link, func(w io.Writer) error { _, err := io.WriteString(w, "new"); return err }))
	st, err := os.Lstat(link)
	require.NoError(t, err)
	require.Equal(t, os.ModeSymlink, st.Mode().Type(), "the link was replaced by a file")
	got, _ := os.ReadFile(real)
	require.Equal(t, "new", string(got))
}

func TestCheck(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, Check(filepath.Join(dir, "new.npy")))
	require.Empty(t, entries(t, dir), "Check left a file")
	require.ErrorIs(t, Check(dir), ErrIsDir)
	require.Error(t, Check(filepath.Join(dir, "missing", "x.npy")))
	if os.Geteuid() != 0 { // root writes anywhere
		ro := filepath.Join(dir, "ro")
		require.NoError(t, os.Mkdir(ro, 0o555))
		require.Error(t, Check(filepath.Join(ro, "x.npy")))
	}
}

// Errors name the file asked for, never our temporary file: a write to the
// temporary file that fails (its *os.PathError names it), and a folder that
// does not exist (Check and Write).
func TestErrorsDoNotNameTheTemporaryFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "out.npy")
	err := Write(path, func(w io.Writer) error {
		w.(*os.File).Close()
		_, err := w.Write([]byte("x"))
		return err
	})
	require.ErrorIs(t, err, os.ErrClosed)
	require.Equal(t, "outfile: write "+path+": "+os.ErrClosed.Error(), err.Error())
	require.Empty(t, entries(t, dir))

	missing := filepath.Join(dir, "no", "out.npy")
	for _, err := range []error{Check(missing), Write(missing, func(io.Writer) error { return nil })} {
		require.ErrorIs(t, err, os.ErrNotExist)
		require.NotContains(t, err.Error(), ".tmp")
		require.NotContains(t, err.Error(), ".check")
		require.Contains(t, err.Error(), "cannot write in the folder of "+missing)
	}
}
