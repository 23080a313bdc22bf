package awssim

import (
	"encoding/base64"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// This file reads AWS Query protocol parameters: scalars, booleans and the "Name.member.N" lists
// (which may be nested: "Filters.member.1.Values.member.2"). The SDK sends an explicitly empty list
// as "Name=" with no members; that reads as an empty list here, as on AWS.

// queryParams wraps a parsed form with typed getters that return AWS-style validation errors.
type queryParams struct{ form url.Values }

// has reports whether the parameter was sent at all.
func (q queryParams) has(name string) bool {
	_, ok := q.form[name]
	return ok
}

// str returns a string parameter, "" when absent.
func (q queryParams) str(name string) string { return q.form.Get(name) }

// required returns a string parameter that must be present and non-empty, with the error AWS
// gives for a missing member.
func (q queryParams) required(name string) (string, *apiError) {
	v := q.form.Get(name)
	if v == "" {
		return "", missingParam(name)
	}
	return v, nil
}

// optInt returns an integer parameter and whether it was sent.
func (q queryParams) optInt(name string) (int, bool, *apiError) {
	raw := q.form.Get(name)
	if raw == "" {
		return 0, false, nil
	}
	v, err := strconv.Atoi(raw)
	if err != nil {
		return 0, false, validationError(fmt.Sprintf("Value '%s' at '%s' failed to satisfy constraint: Member must be an integer", raw, lowerFirst(name)))
	}
	return v, true, nil
}

// optBool returns a boolean parameter ("true" or "false" on the wire) and whether it was sent.
func (q queryParams) optBool(name string) (bool, bool, *apiError) {
	raw := q.form.Get(name)
	if raw == "" {
		return false, false, nil
	}
	v, err := strconv.ParseBool(raw)
	if err != nil {
		return false, false, validationError(fmt.Sprintf("Value '%s' at '%s' failed to satisfy constraint: Member must be a boolean", raw, lowerFirst(name)))
	}
	return v, true, nil
}

// list returns the scalar list "prefix.member.N" in N order. Gaps in N are tolerated.
func (q queryParams) list(prefix string) []string {
	idx := q.indices(prefix)
	out := make([]string, 0, len(idx))
	for _, n := range idx {
		out = append(out, q.form.Get(prefix+".member."+strconv.Itoa(n)))
	}
	return out
}

// indices returns, sorted, every N for which some parameter "prefix.member.N" or
// "prefix.member.N.<field>" was sent: the members of a list of scalars or of structures.
func (q queryParams) indices(prefix string) []int {
	head := prefix + ".member."
	seen := map[int]bool{}
	for key := range q.form {
		rest, ok := strings.CutPrefix(key, head)
		if !ok {
			continue
		}
		num, _, _ := strings.Cut(rest, ".")
		n, err := strconv.Atoi(num)
		if err != nil || n < 1 {
			continue
		}
		seen[n] = true
	}
	out := make([]int, 0, len(seen))
	for n := range seen {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// member returns the query for the fields of structure N of list prefix.
func member(prefix string, n int) string { return prefix + ".member." + strconv.Itoa(n) }

// lowerFirst turns a wire member name into the lowerCamel form AWS quotes in validation messages.
func lowerFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToLower(s[:1]) + s[1:]
}

// pageToken is an opaque NextToken naming the last key returned, so a listing in sorted key order
// resumes after it however the model changed in between (nothing is skipped or repeated that
// existed throughout). kind keeps a token of one operation from being accepted by another.
func pageToken(kind, lastKey string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(kind + "\x00" + lastKey))
}

// parsePageToken returns the last key a pageToken names, or InvalidNextToken.
func parsePageToken(kind, token string) (string, *apiError) {
	raw, err := base64.RawURLEncoding.DecodeString(token)
	if err == nil {
		if k, last, ok := strings.Cut(string(raw), "\x00"); ok && k == kind {
			return last, nil
		}
	}
	return "", invalidNextToken(token)
}

// isoTime formats a timestamp as the Query protocol's ISO-8601 with milliseconds, in UTC.
func isoTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }
