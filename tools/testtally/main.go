// Command testtally reads `go test -json` from standard input, prints what
// plain `go test` would (package results, the output of failed tests and
// build errors), and tallies the tests: with -out it writes the names of
// the top-level tests that passed, one "package test" per line, and with
// -compare it fails when a test that passed in that earlier list did not
// pass now (skipped, failed or gone). Subtests are counted but not
// compared: which sizes or tile shapes a test tries may follow the
// device's limits.
//
// ./build.sh test uses it to hold the VKINFER_LIMITS=min pass to the tests
// of the native lavapipe pass: a kernel that does not fit the spec's
// minimum limits must choose a variant that does, not skip.
//
// Usage:
//
//	go test -json ./... | go run ./tools/testtally [-out passed.txt] [-compare earlier.txt]
//
// It exits with 1 when a test or package failed, or a compared test did not
// pass; 2 on bad input.
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

// event is one line of `go test -json` (cmd/test2json).
type event struct {
	Action     string
	Package    string
	Test       string
	Output     string
	ImportPath string // build-output events
}

// tally is the result of one stream.
type tally struct {
	passed, skipped, failed []string // "package test"
	failedPkgs              int
}

// run copies the human output of the stream to w and tallies it.
func run(in io.Reader, w io.Writer) (*tally, error) {
	t := &tally{}
	buf := map[string][]string{} // output of running tests, by "package test"
	done := map[string]bool{}    // tests that finished
	var order []string           // tests in order of their first output
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		line := sc.Bytes()
		if len(line) == 0 {
			continue
		}
		var e event
		if err := json.Unmarshal(line, &e); err != nil {
			// go test prints some errors (a bad flag, a missing package)
			// as text: pass them on.
			fmt.Fprintln(w, string(line))
			continue
		}
		key := e.Package + " " + e.Test
		switch {
		case e.Action == "build-output":
			fmt.Fprint(w, e.Output)
		case e.Test == "" && e.Action == "output":
			if s := e.Output; s != "PASS\n" && !strings.HasPrefix(s, "=== ") && !strings.HasPrefix(s, "--- ") {
				fmt.Fprint(w, s)
			}
		case e.Test == "" && e.Action == "fail":
			t.failedPkgs++
			// A panic or timeout: show what the unfinished tests printed.
			for _, k := range order {
				if strings.HasPrefix(k, e.Package+" ") && !done[k] {
					fmt.Fprint(w, strings.Join(buf[k], ""))
					done[k] = true
				}
			}
		case e.Test == "":
		case e.Action == "output":
			if _, ok := buf[key]; !ok {
				order = append(order, key)
			}
			buf[key] = append(buf[key], e.Output)
		case e.Action == "pass":
			t.passed = append(t.passed, key)
			done[key] = true
			delete(buf, key)
		case e.Action == "skip":
			t.skipped = append(t.skipped, key)
			done[key] = true
			delete(buf, key)
		case e.Action == "fail":
			t.failed = append(t.failed, key)
			done[key] = true
			fmt.Fprint(w, strings.Join(buf[key], ""))
			delete(buf, key)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("testtally: read: %w", err)
	}
	fmt.Fprintf(w, "tests: %d passed, %d skipped, %d failed", len(t.passed), len(t.skipped), len(t.failed))
	if t.failedPkgs > 0 {
		// A package that crashed (a panic, a signal, a timeout) leaves its
		// running test without a result: say so, or the line reads clean.
		fmt.Fprintf(w, "; %d package(s) failed (see FAIL above)", t.failedPkgs)
	}
	fmt.Fprintln(w)
	return t, nil
}

// topLevel returns the sorted names without subtests.
func topLevel(names []string) []string {
	var out []string
	for _, k := range names {
		if _, test, _ := strings.Cut(k, " "); !strings.Contains(test, "/") {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// missing returns the tests of earlier (one "package test" per line) that
// are not among passed.
func missing(earlier io.Reader, passed []string) ([]string, error) {
	now := map[string]bool{}
	for _, k := range passed {
		now[k] = true
	}
	var out []string
	sc := bufio.NewScanner(earlier)
	for sc.Scan() {
		if k := sc.Text(); k != "" && !now[k] {
			out = append(out, k)
		}
	}
	return out, sc.Err()
}

func main() {
	out := flag.String("out", "", "write the names of the tests that passed to this `file`")
	compare := flag.String("compare", "", "fail unless every test named in this `file` passed")
	flag.Parse()
	t, err := run(os.Stdin, os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	code := 0
	if len(t.failed) > 0 || t.failedPkgs > 0 {
		code = 1
	}
	if *out != "" {
		if err := os.WriteFile(*out, []byte(strings.Join(topLevel(t.passed), "\n")+"\n"), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "testtally:", err)
			os.Exit(2)
		}
	}
	if *compare != "" {
		f, err := os.Open(*compare)
		if errors.Is(err, os.ErrNotExist) {
			fmt.Fprintf(os.Stderr, "testtally: %s does not exist: run the pass it records first\n", *compare)
			os.Exit(2)
		} else if err != nil {
			fmt.Fprintln(os.Stderr, "testtally:", err)
			os.Exit(2)
		}
		miss, err := missing(f, t.passed)
		f.Close()
		if err != nil {
			fmt.Fprintln(os.Stderr, "testtally:", err)
			os.Exit(2)
		}
		if len(miss) > 0 {
			fmt.Printf("testtally: %d tests that passed in %s did not pass here:\n  %s\n", len(miss), *compare, strings.Join(miss, "\n  "))
			code = 1
		}
	}
	os.Exit(code)
}
