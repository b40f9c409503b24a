// Command tlog-verify checks Signet's transparency log with Go's own
// implementation of signed notes and tiled logs (golang.org/x/mod/sumdb/note
// and sumdb/tlog), none of Signet's code: the newest checkpoint against the
// pinned verifier key, the hash tiles against its root, every event of the
// entry bundles for inclusion, and an older checkpoint for consistency.
//
// Usage: tlog-verify -url URL -token TOKEN -key VKEY [-old FILE] [-entries]
//
// Exit 0: verified; 1: the log does not verify; 2: the check could not run.
package main

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

const height = 8

var (
	base  = flag.String("url", "", "the registry's base URL")
	token = flag.String("token", "", "an API token of an auditor")
	vkey  = flag.String("key", "", "the pinned verifier key (name+hash+base64)")
	old   = flag.String("old", "", "a file holding an older checkpoint: prove the log only grew since")
	all   = flag.Bool("entries", false, "check every event of the entry bundles for inclusion")
)

// failed: the log does not verify.
func failed(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "tlog-verify: FAILED: "+format+"\n", args...)
	os.Exit(1)
}

// broken: the check could not run.
func broken(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "tlog-verify: "+format+"\n", args...)
	os.Exit(2)
}

func get(path string) []byte {
	req, err := http.NewRequest("GET", *base+path, nil)
	if err != nil {
		broken("%v", err)
	}
	req.Header.Set("Authorization", "Bearer "+*token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		broken("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		broken("GET %s: %v", path, err)
	}
	if resp.StatusCode != 200 {
		broken("GET %s: %s: %s", path, resp.Status, body)
	}
	return body
}

// checkpoint opens a signed note with the pinned key and reads the C2SP
// checkpoint in it: origin, tree size, base64 root hash.
func checkpoint(msg []byte, v note.Verifier) tlog.Tree {
	n, err := note.Open(msg, note.VerifierList(v))
	if err != nil {
		failed("the checkpoint does not open with the pinned key: %v", err)
	}
	lines := strings.SplitN(n.Text, "\n", 4)
	if len(lines) < 4 || lines[0] != v.Name() {
		failed("the checkpoint is not one of the log %s", v.Name())
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil || size < 0 {
		failed("the checkpoint's size is malformed")
	}
	root, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(root) != tlog.HashSize {
		failed("the checkpoint's root is malformed")
	}
	var h tlog.Hash
	copy(h[:], root)
	return tlog.Tree{N: size, Hash: h}
}

// tiles reads hash tiles from the registry: Go names them tile/8/L/N, the
// C2SP specification (and Signet) L/N under the log's tile prefix.
type tiles struct{}

func (tiles) Height() int { return height }

func (tiles) ReadTiles(ts []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(ts))
	for i, t := range ts {
		out[i] = get("/v1/audit/log/tile/" + strings.TrimPrefix(t.Path(), fmt.Sprintf("tile/%d/", height)))
	}
	return out, nil
}

func (tiles) SaveTiles([]tlog.Tile, [][]byte) {}

// entries reads the events of level-0 tile n: big-endian uint16 lengths,
// each followed by its entry.
func entries(n int64, w int) [][]byte {
	t := tlog.Tile{H: height, L: 0, N: n, W: w}
	path := "/v1/audit/log/tile/entries/" + strings.TrimPrefix(t.Path(), fmt.Sprintf("tile/%d/0/", height))
	data := get(path)
	var out [][]byte
	for len(data) > 0 {
		if len(data) < 2 {
			failed("entry bundle %d is cut short", n)
		}
		l := int(binary.BigEndian.Uint16(data))
		if len(data) < 2+l {
			failed("entry bundle %d is cut short", n)
		}
		out = append(out, data[2:2+l])
		data = data[2+l:]
	}
	if len(out) != w {
		failed("entry bundle %d holds %d entries, not %d", n, len(out), w)
	}
	return out
}

func main() {
	flag.Parse()
	if *base == "" || *vkey == "" {
		broken("usage: tlog-verify -url URL -token TOKEN -key VKEY [-old FILE] [-entries]")
	}
	v, err := note.NewVerifier(strings.TrimSpace(*vkey))
	if err != nil {
		broken("the verifier key: %v", err)
	}
	tree := checkpoint(get("/v1/audit/log/checkpoint"), v)
	hr := tlog.TileHashReader(tree, tiles{})
	root, err := tlog.TreeHash(tree.N, hr)
	if err != nil || root != tree.Hash {
		failed("the hash tiles do not make the signed root of %d events: %v", tree.N, err)
	}
	if *all {
		for start := int64(0); start < tree.N; start += 1 << height {
			w := tree.N - start
			if w > 1<<height {
				w = 1 << height
			}
			for i, e := range entries(start>>height, int(w)) {
				index := start + int64(i)
				proof, err := tlog.ProveRecord(tree.N, index, hr)
				if err != nil {
					failed("no inclusion proof of event %d: %v", index+1, err)
				}
				if err := tlog.CheckRecord(proof, tree.N, tree.Hash, index, tlog.RecordHash(e)); err != nil {
					failed("event %d is not in the signed tree of %d events: %v", index+1, tree.N, err)
				}
			}
		}
	}
	if *old != "" {
		msg, err := os.ReadFile(*old)
		if err != nil {
			broken("%v", err)
		}
		was := checkpoint(msg, v)
		if was.N > tree.N {
			failed("the log shrank: %d events then, %d now", was.N, tree.N)
		}
		proof, err := tlog.ProveTree(tree.N, was.N, hr)
		if err != nil {
			failed("no consistency proof from %d to %d events: %v", was.N, tree.N, err)
		}
		if err := tlog.CheckTree(proof, tree.N, tree.Hash, was.N, was.Hash); err != nil {
			failed("the log was rewritten: the tree of %d events is not a prefix of the tree of %d: %v", was.N, tree.N, err)
		}
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "verified: %s, %d events", v.Name(), tree.N)
	if *all {
		b.WriteString(", every entry included")
	}
	if *old != "" {
		b.WriteString(", consistent with " + *old)
	}
	fmt.Println(b.String())
}
