//go:build !linux

package blob

import (
	"errors"
	"os"
)

var errNoUnnamed = errors.New("unnamed files are not supported here")

func openUnnamed(dir string) (*os.File, error) { return nil, errNoUnnamed }

func linkUnnamed(f *os.File, final string) error { return errNoUnnamed }
