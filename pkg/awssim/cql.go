package awssim

// The ECS cluster query language, as ListContainerInstances' filter takes it
// (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/cluster-query-language.html):
//
//	expression := subject operator [argument]
//	compound   := expression (and | &&) expression
//	            | expression (or | ||) expression
//	            | (not | !) expression
//	            | ( expression )
//
// Subjects: ec2InstanceId, agentVersion, task:group, attribute:<name> (strings), runningTasksCount
// (a number), agentConnected (true/false), registeredAt (a date or RFC 3339 time). Operators: ==
// (equals), != (not_equals), >, >=, <, <= (greater_than, greater_than_equal, less_than,
// less_than_equal), in, not_in (!in), exists, not_exists (!exists), =~ (matches), !~
// (not_matches). Values are bare words or quoted with ' or "; lists are [a, b] or (a, b). `and`
// binds tighter than `or`. The parser never panics: every malformed input is an error saying
// what is wrong and where.

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

const (
	// cqlMaxLen bounds a filter, so a hostile one cannot cost much. ECS documents no limit; this
	// leaves room for 100 quoted instance IDs several times over.
	cqlMaxLen = 8192
	// cqlMaxDepth bounds nesting of parentheses and negations, so recursion stays shallow.
	cqlMaxDepth = 64
)

// cqlInstance is what a filter sees of one container instance.
type cqlInstance struct {
	EC2InstanceID     string
	RunningTasksCount int
	AgentConnected    bool
	AgentVersion      string
	RegisteredAt      time.Time
	Attributes        map[string]string // name -> value ("" for a valueless attribute)
	TaskGroups        []string          // groups of the tasks meant to run there
}

// cqlExpr is a parsed filter.
type cqlExpr interface {
	eval(*cqlInstance) bool
}

type cqlAnd struct{ l, r cqlExpr }
type cqlOr struct{ l, r cqlExpr }
type cqlNot struct{ e cqlExpr }

func (e cqlAnd) eval(i *cqlInstance) bool { return e.l.eval(i) && e.r.eval(i) }
func (e cqlOr) eval(i *cqlInstance) bool  { return e.l.eval(i) || e.r.eval(i) }
func (e cqlNot) eval(i *cqlInstance) bool { return !e.e.eval(i) }

// cqlEC2InstanceIDs returns the EC2 instance IDs outside of which the filter cannot hold, when
// it names them (`ec2InstanceId == id`, `ec2InstanceId in [...]`, and those joined by and/or),
// so that ListContainerInstances looks up those instances instead of testing every one. A nil
// filter names none.
func cqlEC2InstanceIDs(e cqlExpr) ([]string, bool) {
	switch e := e.(type) {
	case *cqlCond:
		if e.subject == "ec2InstanceId" && (e.op == "==" || e.op == "in") {
			return e.values, true
		}
	case cqlAnd:
		if ids, ok := cqlEC2InstanceIDs(e.l); ok {
			return ids, true
		}
		return cqlEC2InstanceIDs(e.r)
	case cqlOr:
		l, okL := cqlEC2InstanceIDs(e.l)
		r, okR := cqlEC2InstanceIDs(e.r)
		if okL && okR {
			return slices.Concat(l, r), true
		}
	}
	return nil, false
}

// cqlKind is the type of a subject's values.
type cqlKind int

const (
	cqlString cqlKind = iota
	cqlNumber
	cqlBool
	cqlTime
)

// cqlCond is one `subject operator [argument]`.
type cqlCond struct {
	subject string // as written
	kind    cqlKind
	op      string // canonical: == != > >= < <= in not_in exists not_exists matches not_matches
	values  []string
	nums    []int64
	times   []time.Time
	re      *regexp.Regexp
}

// subjectValues returns what the subject holds for an instance: none, one, or (task:group) several.
func (c *cqlCond) subjectValues(i *cqlInstance) []string {
	switch {
	case c.subject == "ec2InstanceId":
		return []string{i.EC2InstanceID}
	case c.subject == "agentVersion":
		return []string{i.AgentVersion}
	case c.subject == "runningTasksCount":
		return []string{strconv.Itoa(i.RunningTasksCount)}
	case c.subject == "agentConnected":
		return []string{strconv.FormatBool(i.AgentConnected)}
	case c.subject == "registeredAt":
		return []string{i.RegisteredAt.UTC().Format(time.RFC3339Nano)}
	case c.subject == "task:group":
		return i.TaskGroups
	case strings.HasPrefix(c.subject, "attribute:"):
		if v, ok := i.Attributes[strings.TrimPrefix(c.subject, "attribute:")]; ok {
			return []string{v}
		}
	}
	return nil
}

func (c *cqlCond) eval(i *cqlInstance) bool {
	vals := c.subjectValues(i)
	switch c.op {
	case "exists":
		return len(vals) > 0
	case "not_exists":
		return len(vals) == 0
	case "!=", "not_in", "not_matches":
		// Negative operators hold when no value of the subject matches, so "task:group != x" means
		// no task of group x is there.
		return !slices.ContainsFunc(vals, func(v string) bool { return c.match(v) })
	}
	return slices.ContainsFunc(vals, func(v string) bool { return c.match(v) })
}

// match applies the positive form of the operator to one value of the subject.
func (c *cqlCond) match(v string) bool {
	switch c.op {
	case "matches", "not_matches":
		return c.re.MatchString(v)
	}
	switch c.kind {
	case cqlNumber:
		n, err := strconv.ParseInt(v, 10, 64)
		return err == nil && compareAny(c.op, n, c.nums)
	case cqlTime:
		t, err := time.Parse(time.RFC3339Nano, v)
		return err == nil && compareAny(c.op, t.UnixNano(), unixNanos(c.times))
	}
	return slices.Contains(c.values, v)
}

func unixNanos(ts []time.Time) []int64 {
	out := make([]int64, len(ts))
	for i, t := range ts {
		out[i] = t.UnixNano()
	}
	return out
}

// compareAny applies a comparison (or, for in/not_in/==/!=, equality) of v against the arguments.
func compareAny(op string, v int64, args []int64) bool {
	switch op {
	case ">":
		return v > args[0]
	case ">=":
		return v >= args[0]
	case "<":
		return v < args[0]
	case "<=":
		return v <= args[0]
	}
	return slices.Contains(args, v)
}

// ---- tokenizer ----

type cqlTokKind int

const (
	tokEOF cqlTokKind = iota
	tokWord
	tokString
	tokLParen
	tokRParen
	tokLBracket
	tokRBracket
	tokComma
	tokOp  // == != > >= < <= =~ !~
	tokAnd // &&
	tokOr  // ||
	tokNot // !
)

type cqlToken struct {
	kind cqlTokKind
	text string
	pos  int
}

func (t cqlToken) describe() string {
	switch t.kind {
	case tokEOF:
		return "end of filter"
	case tokString:
		return fmt.Sprintf("string %q at position %d", t.text, t.pos)
	}
	return fmt.Sprintf("%q at position %d", t.text, t.pos)
}

// cqlSpecial are the characters that end a bare word.
const cqlSpecial = "()[],'\"=!<>~&|"

// tokenizeCQL splits a cluster query language expression into tokens.
//
//nolint:gocyclo // A tokenizer: one switch over the next character is its clearest form.
func tokenizeCQL(s string) ([]cqlToken, error) {
	var toks []cqlToken
	i := 0
	for i < len(s) {
		ch := s[i]
		switch {
		case ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r':
			i++
		case ch == '(':
			toks = append(toks, cqlToken{tokLParen, "(", i})
			i++
		case ch == ')':
			toks = append(toks, cqlToken{tokRParen, ")", i})
			i++
		case ch == '[':
			toks = append(toks, cqlToken{tokLBracket, "[", i})
			i++
		case ch == ']':
			toks = append(toks, cqlToken{tokRBracket, "]", i})
			i++
		case ch == ',':
			toks = append(toks, cqlToken{tokComma, ",", i})
			i++
		case ch == '\'' || ch == '"':
			end := strings.IndexByte(s[i+1:], ch)
			if end < 0 {
				return nil, fmt.Errorf("unterminated quoted string starting at position %d", i)
			}
			toks = append(toks, cqlToken{tokString, s[i+1 : i+1+end], i})
			i += end + 2
		case ch == '&' || ch == '|':
			if i+1 >= len(s) || s[i+1] != ch {
				return nil, fmt.Errorf("unexpected %q at position %d (did you mean %q?)", string(ch), i, string([]byte{ch, ch}))
			}
			kind := tokAnd
			if ch == '|' {
				kind = tokOr
			}
			toks = append(toks, cqlToken{kind, s[i : i+2], i})
			i += 2
		case strings.IndexByte("=!<>~", ch) >= 0:
			two := ""
			if i+1 < len(s) {
				two = s[i : i+2]
			}
			switch {
			case two == "==" || two == "!=" || two == ">=" || two == "<=" || two == "=~" || two == "!~":
				toks = append(toks, cqlToken{tokOp, two, i})
				i += 2
			case ch == '>' || ch == '<':
				toks = append(toks, cqlToken{tokOp, string(ch), i})
				i++
			case ch == '!':
				toks = append(toks, cqlToken{tokNot, "!", i})
				i++
			default:
				return nil, fmt.Errorf("unexpected %q at position %d", string(ch), i)
			}
		default:
			start := i
			for i < len(s) && !isCQLSpace(s[i]) && strings.IndexByte(cqlSpecial, s[i]) < 0 {
				i++
			}
			toks = append(toks, cqlToken{tokWord, s[start:i], start})
		}
	}
	return append(toks, cqlToken{tokEOF, "", len(s)}), nil
}

func isCQLSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// ---- parser ----

type cqlParser struct {
	toks  []cqlToken
	pos   int
	depth int
}

// parseCQL parses a cluster query language filter.
func parseCQL(s string) (cqlExpr, error) {
	if len(s) > cqlMaxLen {
		return nil, fmt.Errorf("filter is %d characters long; at most %d are allowed", len(s), cqlMaxLen)
	}
	toks, err := tokenizeCQL(s)
	if err != nil {
		return nil, err
	}
	p := &cqlParser{toks: toks}
	if p.peek().kind == tokEOF {
		return nil, fmt.Errorf("filter is empty")
	}
	e, err := p.parseOr()
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind != tokEOF {
		return nil, fmt.Errorf("unexpected %s; expected and, or or the end of the filter", t.describe())
	}
	return e, nil
}

func (p *cqlParser) peek() cqlToken { return p.toks[p.pos] }

func (p *cqlParser) next() cqlToken {
	t := p.toks[p.pos]
	if t.kind != tokEOF {
		p.pos++
	}
	return t
}

func isKeyword(t cqlToken, words ...string) bool {
	return t.kind == tokWord && slices.Contains(words, strings.ToLower(t.text))
}

func (p *cqlParser) parseOr() (cqlExpr, error) {
	left, err := p.parseAnd()
	if err != nil {
		return nil, err
	}
	for t := p.peek(); t.kind == tokOr || isKeyword(t, "or"); t = p.peek() {
		p.next()
		right, err := p.parseAnd()
		if err != nil {
			return nil, err
		}
		left = cqlOr{left, right}
	}
	return left, nil
}

func (p *cqlParser) parseAnd() (cqlExpr, error) {
	left, err := p.parseUnary()
	if err != nil {
		return nil, err
	}
	for t := p.peek(); t.kind == tokAnd || isKeyword(t, "and"); t = p.peek() {
		p.next()
		right, err := p.parseUnary()
		if err != nil {
			return nil, err
		}
		left = cqlAnd{left, right}
	}
	return left, nil
}

func (p *cqlParser) parseUnary() (cqlExpr, error) {
	t := p.peek()
	switch {
	case t.kind == tokNot || isKeyword(t, "not"):
		p.next()
		if err := p.enter(t); err != nil {
			return nil, err
		}
		e, err := p.parseUnary()
		p.depth--
		if err != nil {
			return nil, err
		}
		return cqlNot{e}, nil
	case t.kind == tokLParen:
		p.next()
		if err := p.enter(t); err != nil {
			return nil, err
		}
		e, err := p.parseOr()
		p.depth--
		if err != nil {
			return nil, err
		}
		if c := p.next(); c.kind != tokRParen {
			return nil, fmt.Errorf("expected ')' to close '(' at position %d, found %s", t.pos, c.describe())
		}
		return e, nil
	}
	return p.parseCond()
}

func (p *cqlParser) enter(t cqlToken) error {
	p.depth++
	if p.depth > cqlMaxDepth {
		return fmt.Errorf("filter nests deeper than %d levels at position %d", cqlMaxDepth, t.pos)
	}
	return nil
}

// cqlOperators maps every spelling of an operator to its canonical name.
var cqlOperators = map[string]string{
	"==": "==", "equals": "==",
	"!=": "!=", "not_equals": "!=",
	">": ">", "greater_than": ">",
	">=": ">=", "greater_than_equal": ">=",
	"<": "<", "less_than": "<",
	"<=": "<=", "less_than_equal": "<=",
	"in": "in", "not_in": "not_in",
	"exists": "exists", "not_exists": "not_exists",
	"=~": "matches", "matches": "matches",
	"!~": "not_matches", "not_matches": "not_matches",
}

// subjectKind returns the kind of a subject, or false for an unknown subject.
func subjectKind(s string) (cqlKind, bool) {
	switch s {
	case "ec2InstanceId", "agentVersion", "task:group":
		return cqlString, true
	case "runningTasksCount":
		return cqlNumber, true
	case "agentConnected":
		return cqlBool, true
	case "registeredAt":
		return cqlTime, true
	}
	if name, ok := strings.CutPrefix(s, "attribute:"); ok && name != "" {
		return cqlString, true
	}
	return 0, false
}

// allowedOps lists the operators each kind of subject takes.
var allowedOps = map[cqlKind][]string{
	cqlString: {"==", "!=", "in", "not_in", "exists", "not_exists", "matches", "not_matches"},
	cqlNumber: {"==", "!=", ">", ">=", "<", "<=", "in", "not_in", "exists", "not_exists"},
	cqlBool:   {"==", "!="},
	cqlTime:   {">", ">=", "<", "<=", "exists", "not_exists"},
}

func (p *cqlParser) parseCond() (cqlExpr, error) {
	st := p.next()
	if st.kind != tokWord {
		return nil, fmt.Errorf("expected a subject such as ec2InstanceId, found %s", st.describe())
	}
	kind, ok := subjectKind(st.text)
	if !ok {
		return nil, fmt.Errorf("unknown subject %q at position %d (known: ec2InstanceId, runningTasksCount, agentConnected, agentVersion, registeredAt, task:group, attribute:<name>)", st.text, st.pos)
	}
	c := &cqlCond{subject: st.text, kind: kind}

	ot := p.next()
	switch {
	case ot.kind == tokOp:
		c.op = cqlOperators[ot.text]
	case ot.kind == tokNot && isKeyword(p.peek(), "in", "exists"):
		c.op = "not_" + strings.ToLower(p.next().text)
	case ot.kind == tokWord:
		c.op = cqlOperators[strings.ToLower(ot.text)]
	}
	if c.op == "" {
		return nil, fmt.Errorf("expected an operator after %s at position %d, found %s", st.text, st.pos, ot.describe())
	}
	if !slices.Contains(allowedOps[kind], c.op) {
		return nil, fmt.Errorf("operator %q at position %d cannot be used with %s", ot.text, ot.pos, st.text)
	}

	switch c.op {
	case "exists", "not_exists":
		return c, nil
	case "in", "not_in":
		vals, err := p.parseList()
		if err != nil {
			return nil, err
		}
		c.values = vals
	default:
		vt := p.next()
		if vt.kind != tokWord && vt.kind != tokString {
			return nil, fmt.Errorf("expected a value after %s %s, found %s", st.text, ot.text, vt.describe())
		}
		c.values = []string{vt.text}
	}
	return c, c.compile()
}

// parseList parses [v, v, ...] or (v, v, ...).
func (p *cqlParser) parseList() ([]string, error) {
	open := p.next()
	closing := tokRBracket
	switch open.kind {
	case tokLBracket:
	case tokLParen:
		closing = tokRParen
	default:
		return nil, fmt.Errorf("expected a list such as ['a', 'b'] after in, found %s", open.describe())
	}
	var vals []string
	for {
		vt := p.next()
		if vt.kind != tokWord && vt.kind != tokString {
			return nil, fmt.Errorf("expected a list value, found %s", vt.describe())
		}
		vals = append(vals, vt.text)
		sep := p.next()
		switch sep.kind {
		case closing:
			return vals, nil
		case tokComma:
		default:
			return nil, fmt.Errorf("expected ',' or the end of the list opened at position %d, found %s", open.pos, sep.describe())
		}
	}
}

// compile checks and converts the argument values for the subject's kind.
func (c *cqlCond) compile() error {
	switch c.op {
	case "matches", "not_matches":
		// ECS takes a Java regular expression and matches the whole value; RE2 covers the common
		// subset.
		re, err := regexp.Compile("^(?:" + c.values[0] + ")$")
		if err != nil {
			return fmt.Errorf("invalid regular expression %q: %w", c.values[0], err)
		}
		c.re = re
		return nil
	}
	switch c.kind {
	case cqlNumber:
		for _, v := range c.values {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return fmt.Errorf("%s takes whole numbers, not %q", c.subject, v)
			}
			c.nums = append(c.nums, n)
		}
	case cqlBool:
		v := strings.ToLower(c.values[0])
		if v != "true" && v != "false" {
			return fmt.Errorf("%s takes true or false, not %q", c.subject, c.values[0])
		}
		c.values = []string{v}
	case cqlTime:
		for _, v := range c.values {
			t, err := parseCQLTime(v)
			if err != nil {
				return fmt.Errorf("%s takes a date (2006-01-02) or an RFC 3339 time, not %q", c.subject, v)
			}
			c.times = append(c.times, t)
		}
	}
	return nil
}

func parseCQLTime(v string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t, nil
	}
	return time.Parse("2006-01-02", v)
}
