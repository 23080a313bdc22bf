package awssim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// EventBridge event patterns (eventbridge/latest/userguide/eb-event-patterns.html): a pattern
// mirrors the event; every leaf is an array of alternatives (OR), every listed field must match
// (AND), unlisted fields are ignored, strings match exactly. Supported: exact values (string,
// number, boolean, null), {"prefix"}, {"suffix"}, {"equals-ignore-case"}, {"anything-but": value,
// list or {"prefix"}}, {"exists": bool}, {"numeric": [op, n, ...]}, and "$or".

// eventPattern is a compiled pattern: the fields of one object level, and "$or" alternatives.
type eventPattern struct {
	fields map[string]patternField
	ors    []*eventPattern
}

// patternField is either a nested object (sub) or a leaf (matchers).
type patternField struct {
	sub      *eventPattern
	matchers []matcher
}

type matcher struct {
	kind    string // "exact", "prefix", "suffix", "equals-ignore-case", "anything-but", "exists", "numeric"
	value   any    // exact: the JSON value; prefix/suffix/equals-ignore-case: the string; exists: bool
	but     []any  // anything-but values
	butPref string // anything-but {"prefix"}
	numeric []numCond
}

type numCond struct {
	op string
	n  float64
}

// maxPatternDepth bounds nesting, as EventBridge limits pattern size; it also keeps a hostile
// pattern from recursing deep.
const maxPatternDepth = 32

// parsePattern compiles an EventPattern string; the error says what is wrong, for
// InvalidEventPatternException.
func parsePattern(raw string) (*eventPattern, error) {
	dec := json.NewDecoder(strings.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("filter is not valid JSON: %w", err)
	}
	if dec.More() {
		return nil, errors.New("filter is not valid JSON: trailing data")
	}
	obj, ok := v.(map[string]any)
	if !ok || len(obj) == 0 {
		return nil, errors.New("filter is not an object")
	}
	return compileObject(obj, 0)
}

func compileObject(obj map[string]any, depth int) (*eventPattern, error) {
	if depth > maxPatternDepth {
		return nil, fmt.Errorf("pattern is nested deeper than %d levels", maxPatternDepth)
	}
	p := &eventPattern{fields: map[string]patternField{}}
	for _, k := range slices.Sorted(maps.Keys(obj)) {
		switch v := obj[k].(type) {
		case map[string]any:
			sub, err := compileObject(v, depth+1)
			if err != nil {
				return nil, err
			}
			p.fields[k] = patternField{sub: sub}
		case []any:
			if k == "$or" {
				if err := p.compileOr(v, depth); err != nil {
					return nil, err
				}
				continue
			}
			ms, err := compileLeaf(k, v)
			if err != nil {
				return nil, err
			}
			p.fields[k] = patternField{matchers: ms}
		default:
			return nil, fmt.Errorf("match value must be String, number, true, false, or null at %s", k)
		}
	}
	return p, nil
}

func (p *eventPattern) compileOr(alts []any, depth int) error {
	if len(alts) < 2 {
		return errors.New("$or must have at least 2 alternatives")
	}
	for _, a := range alts {
		obj, ok := a.(map[string]any)
		if !ok || len(obj) == 0 {
			return errors.New("$or alternatives must be non-empty objects")
		}
		sub, err := compileObject(obj, depth+1)
		if err != nil {
			return err
		}
		p.ors = append(p.ors, sub)
	}
	return nil
}

func compileLeaf(field string, vals []any) ([]matcher, error) {
	if len(vals) == 0 {
		return nil, fmt.Errorf("empty arrays are not allowed at %s", field)
	}
	var out []matcher
	for _, v := range vals {
		switch x := v.(type) {
		case map[string]any:
			m, err := compileOperator(field, x)
			if err != nil {
				return nil, err
			}
			out = append(out, m)
		case []any:
			return nil, fmt.Errorf("match value must be String, number, true, false, or null at %s", field)
		default:
			out = append(out, matcher{kind: "exact", value: normalize(x)})
		}
	}
	return out, nil
}

// compileOperator reads one {"operator": argument} object.
func compileOperator(field string, op map[string]any) (matcher, error) {
	if len(op) != 1 {
		return matcher{}, fmt.Errorf("only one key allowed in match expression at %s", field)
	}
	for k, arg := range op {
		switch k {
		case "prefix", "suffix", "equals-ignore-case":
			s, ok := arg.(string)
			if !ok {
				return matcher{}, fmt.Errorf("%s match pattern must be a string at %s", k, field)
			}
			return matcher{kind: k, value: s}, nil
		case "exists":
			b, ok := arg.(bool)
			if !ok {
				return matcher{}, fmt.Errorf("exists match pattern must be either true or false at %s", field)
			}
			return matcher{kind: k, value: b}, nil
		case "anything-but":
			return compileAnythingBut(field, arg)
		case "numeric":
			return compileNumeric(field, arg)
		default:
			return matcher{}, fmt.Errorf("unrecognized match type %s at %s", k, field)
		}
	}
	return matcher{}, nil // unreachable: op has one key
}

func compileAnythingBut(field string, arg any) (matcher, error) {
	m := matcher{kind: "anything-but"}
	switch x := arg.(type) {
	case []any:
		if len(x) == 0 {
			return m, fmt.Errorf("empty arrays are not allowed at %s", field)
		}
		for _, v := range x {
			if _, isObj := v.(map[string]any); isObj {
				return m, fmt.Errorf("inside anything but list, start|null|boolean is not supported at %s", field)
			}
			m.but = append(m.but, normalize(v))
		}
	case map[string]any:
		p, ok := x["prefix"].(string)
		if len(x) != 1 || !ok {
			return m, fmt.Errorf("unsupported anything-but pattern at %s", field)
		}
		m.butPref = p
	default:
		m.but = []any{normalize(x)}
	}
	return m, nil
}

func compileNumeric(field string, arg any) (matcher, error) {
	m := matcher{kind: "numeric"}
	xs, ok := arg.([]any)
	if !ok || len(xs) == 0 || len(xs)%2 != 0 || len(xs) > 4 {
		return m, fmt.Errorf("value of numeric must be an array of operator and number pairs at %s", field)
	}
	for i := 0; i < len(xs); i += 2 {
		op, _ := xs[i].(string)
		n, isNum := normalize(xs[i+1]).(float64)
		if !slices.Contains([]string{"=", "<", "<=", ">", ">="}, op) || !isNum {
			return m, fmt.Errorf("unrecognized numeric range operator or value at %s", field)
		}
		m.numeric = append(m.numeric, numCond{op, n})
	}
	return m, nil
}

// normalize turns json.Number into float64, so 5 and 5.0 match alike.
func normalize(v any) any {
	if n, ok := v.(json.Number); ok {
		f, err := n.Float64()
		if err == nil {
			return f
		}
		return n.String()
	}
	return v
}

// match reports whether an event (decoded with UseNumber) matches the pattern.
func (p *eventPattern) match(event map[string]any) bool {
	for k, f := range p.fields {
		v, found := event[k]
		if f.sub != nil {
			obj, ok := v.(map[string]any)
			if !found || !ok || !f.sub.match(obj) {
				return false
			}
			continue
		}
		if !matchLeaf(f.matchers, v, found) {
			return false
		}
	}
	if len(p.ors) == 0 {
		return true
	}
	return slices.ContainsFunc(p.ors, func(o *eventPattern) bool { return o.match(event) })
}

// matchLeaf matches one field's value (any element of an array value) against its alternatives.
func matchLeaf(ms []matcher, v any, found bool) bool {
	if arr, ok := v.([]any); ok && found {
		for _, m := range ms {
			if m.kind == "exists" {
				if m.value.(bool) {
					return true
				}
				continue
			}
			if slices.ContainsFunc(arr, m.matchValue) {
				return true
			}
		}
		return false
	}
	for _, m := range ms {
		if m.kind == "exists" {
			if m.value.(bool) == found {
				return true
			}
			continue
		}
		if found && m.matchValue(v) {
			return true
		}
	}
	return false
}

func (m matcher) matchValue(v any) bool {
	v = normalize(v)
	s, isStr := v.(string)
	switch m.kind {
	case "exact":
		return v == m.value
	case "prefix":
		return isStr && strings.HasPrefix(s, m.value.(string))
	case "suffix":
		return isStr && strings.HasSuffix(s, m.value.(string))
	case "equals-ignore-case":
		return isStr && strings.EqualFold(s, m.value.(string))
	case "anything-but":
		if m.butPref != "" {
			return isStr && !strings.HasPrefix(s, m.butPref)
		}
		return !slices.Contains(m.but, v)
	case "numeric":
		n, ok := v.(float64)
		return ok && slices.IndexFunc(m.numeric, func(c numCond) bool { return !c.holds(n) }) < 0
	}
	return false
}

func (c numCond) holds(n float64) bool {
	switch c.op {
	case "=":
		return n == c.n
	case "<":
		return n < c.n
	case "<=":
		return n <= c.n
	case ">":
		return n > c.n
	}
	return n >= c.n
}

// decodeEvent decodes an event for matching, numbers as json.Number.
func decodeEvent(b []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var m map[string]any
	err := dec.Decode(&m)
	return m, err
}
