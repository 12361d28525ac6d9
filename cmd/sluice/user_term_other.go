//go:build !linux

package main

import (
	"errors"
	"os"
)

// Elsewhere the password is read as a line from stdin, as from a pipe.
func isTerminal(*os.File) bool { return false }

func readNoEcho(*os.File) (string, error) { return "", errors.New("no terminal support") }
