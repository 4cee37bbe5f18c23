package executor

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"
)

// MaxOutputsBytes caps how much of $BATON_OUTPUTS is read: outputs travel as
// params through workflow history, which is no place for bulk data.
const MaxOutputsBytes = 64 << 10

// readOutputs parses key=value lines from the outputs file. The note, when
// not empty, says what was ignored and belongs in the instance log.
func readOutputs(path string) (map[string]string, string) {
	// The script owns the working directory and may have replaced the file
	// with a symlink (to a secret) or a FIFO (to hang us): only a regular
	// file is read.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		if os.IsNotExist(err) {
			return nil, ""
		}
		return nil, fmt.Sprintf("outputs ignored: open %s: %v", OutputsFile, err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		return nil, "outputs ignored: $BATON_OUTPUTS is not a regular file"
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxOutputsBytes+1))
	if err != nil {
		return nil, fmt.Sprintf("outputs ignored: read: %v", err)
	}
	var notes []string
	if len(data) > MaxOutputsBytes {
		data = data[:MaxOutputsBytes]
		// A line cut in half would yield a wrong value; drop it.
		if i := bytes.LastIndexByte(data, '\n'); i >= 0 {
			data = data[:i+1]
		} else {
			data = nil
		}
		notes = append(notes, fmt.Sprintf("outputs truncated: only the first %d bytes are read", MaxOutputsBytes))
	}
	return parseOutputs(data, notes)
}

func parseOutputs(data []byte, notes []string) (map[string]string, string) {
	out := map[string]string{}
	bad := 0
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), MaxOutputsBytes+1)
	for sc.Scan() {
		line := strings.TrimSuffix(sc.Text(), "\r")
		trimmed := strings.TrimSpace(line)
		if trimmed == "" || strings.HasPrefix(trimmed, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			bad++
			continue
		}
		out[k] = v
	}
	if bad > 0 {
		notes = append(notes, fmt.Sprintf("outputs: ignored %d line(s) that are not key=value", bad))
	}
	if len(out) == 0 {
		out = nil
	}
	return out, strings.Join(notes, "; ")
}
