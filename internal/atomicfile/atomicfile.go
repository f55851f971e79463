// Package atomicfile replaces small files durably: the bootstrap configuration, certificates
// and keys. A reader sees the old file or the new one, never a mix; after a crash the new one
// is complete or absent. It knows nothing of what the files contain.
package atomicfile

import (
	"os"
	"path/filepath"
)

// Write replaces path with data and mode: temporary file in the same directory, fsync,
// rename, fsync of the directory.
func Write(path string, data []byte, mode os.FileMode) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if err = f.Chmod(mode); err != nil {
		return err
	}
	if _, err = f.Write(data); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(f.Name(), path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
