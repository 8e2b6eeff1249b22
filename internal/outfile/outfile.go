// Package outfile writes output files so that a failure never destroys
// what was there: a regular file is written to a temporary file beside it
// and renamed into place only when complete, and nothing that the writer
// did not create is ever removed. A path that names something other than a
// regular file (a device such as /dev/null, a FIFO) is written in place,
// never replaced; a symbolic link keeps pointing where it did and its
// target is replaced.
package outfile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// ErrIsDir: the output path is a directory.
var ErrIsDir = errors.New("is a directory; give a file name")

// target resolves path for writing: the file to replace (path itself or
// the end of its symbolic links) and whether it is written in place (it
// exists and is not a regular file).
func target(path string) (string, bool, fs.FileInfo, error) {
	st, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		// A dangling symbolic link is replaced like a missing file would
		// be created: through a temporary file in its folder.
		return path, false, nil, nil
	case err != nil:
		return "", false, nil, err
	case st.IsDir():
		return "", false, nil, ErrIsDir
	case !st.Mode().IsRegular():
		return path, true, st, nil
	}
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		return "", false, nil, err
	}
	return real, false, st, nil
}

// Check reports, before any work is done, whether Write(path, ...) can
// succeed as far as the file system can tell: path is not a directory and
// a file can be created in its folder (it creates and removes one of its
// own there; path itself is not touched).
func Check(path string) error {
	real, inPlace, _, err := target(path)
	if err != nil {
		return fmt.Errorf("outfile: %s: %w", path, err)
	}
	if inPlace {
		f, err := os.OpenFile(real, os.O_WRONLY, 0)
		if err != nil {
			return fmt.Errorf("outfile: %w", err)
		}
		return f.Close()
	}
	f, err := os.CreateTemp(filepath.Dir(real), "."+filepath.Base(real)+".check*")
	if err != nil {
		return fmt.Errorf("outfile: cannot write in the folder of %s: %w", path, withoutTemp(err))
	}
	name := f.Name()
	f.Close()
	return os.Remove(name)
}

// Write calls write with a writer for path and, when it and every step of
// writing succeed, puts the result at path. On any failure path is as it
// was (a regular file keeps its contents; a missing one stays missing) and
// the temporary file is removed. A new file gets mode 0644; a replaced
// file keeps its mode.
func Write(path string, write func(io.Writer) error) (err error) {
	real, inPlace, st, err := target(path)
	if err != nil {
		return fmt.Errorf("outfile: %s: %w", path, err)
	}
	if inPlace {
		f, err := os.OpenFile(real, os.O_WRONLY, 0)
		if err != nil {
			return fmt.Errorf("outfile: %w", err)
		}
		err = write(f)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("outfile: write %s: %w", path, err)
		}
		return nil
	}
	f, err := os.CreateTemp(filepath.Dir(real), "."+filepath.Base(real)+".tmp*")
	if err != nil {
		return fmt.Errorf("outfile: cannot write in the folder of %s: %w", path, withoutTemp(err))
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp) // ours: made by CreateTemp above
		}
	}()
	// Errors name path, never the temporary file the user did not ask for.
	defer func() {
		if err != nil {
			err = fmt.Errorf("outfile: write %s: %w", path, withoutTemp(errors.Unwrap(err)))
		}
	}()
	mode := fs.FileMode(0o644)
	if st != nil {
		mode = st.Mode().Perm()
	}
	if err = write(f); err != nil {
		return fmt.Errorf("outfile: %w", err)
	}
	if err = f.Chmod(mode); err != nil {
		return fmt.Errorf("outfile: %w", err)
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("outfile: %w", err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("outfile: %w", err)
	}
	if err = os.Rename(tmp, real); err != nil {
		return fmt.Errorf("outfile: %w", err)
	}
	return nil
}

// withoutTemp returns err without the name of a temporary file of ours in
// it: the cause of an *fs.PathError or *os.LinkError (open, write, sync,
// rename) when one is in err's chain (errors.Is still sees the cause, such
// as fs.ErrPermission or syscall.ENOSPC); err itself otherwise.
func withoutTemp(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	var le *os.LinkError
	if errors.As(err, &le) {
		return le.Err
	}
	return err
}
