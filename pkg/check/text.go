package check

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// WriteJSON writes the report as indented JSON (the --output json schema, docs/check.md).
func WriteJSON(w io.Writer, r *Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(r); err != nil {
		return fmt.Errorf("writing the report: %w", err)
	}
	return nil
}

// WriteText writes the report for people: a summary line, the groups as a table, the near
// misses, the queue, the permissions, then every problem with its fix.
func WriteText(w io.Writer, r *Report) error {
	var b strings.Builder
	fails, warns := 0, 0
	for _, p := range r.Problems {
		switch p.Severity {
		case SeverityFail:
			fails++
		case SeverityWarning:
			warns++
		}
	}
	verdict := "OK: the controller would work"
	if !r.OK {
		verdict = "NOT OK: the controller would not work everywhere"
	}
	fmt.Fprintf(&b, "ecs-drainer check: %s (%s selected by %s, %s, %s)\n\n", verdict,
		count(len(r.Groups), "group"), selection(r.Settings), count(fails, "failure"), count(warns, "warning"))

	tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "GROUP\tBY\tHOOK\tHEARTBEAT\tGLOBAL\tDRAIN TIMEOUT\tDEFAULT\tECS DRAINING\tREGISTERED IN\tVERDICT")
	for _, g := range r.Groups {
		hook := orDash(g.Hook)
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", g.Name, selectedBy(g.SelectedBy), hook,
			short(seconds(g.HeartbeatTimeoutSeconds)), short(seconds(g.GlobalTimeoutSeconds)), short(seconds(g.DrainTimeoutSeconds)),
			orDash(g.DefaultResult), yesNo(g.ECSManagedDraining), registered(g), strings.ToUpper(g.Verdict))
	}
	if len(r.Groups) == 0 {
		fmt.Fprintln(tw, "(none)")
	}
	_ = tw.Flush()

	if len(r.NotSelected) > 0 {
		b.WriteString("\nNot selected, though tagged alike:\n")
		tw = tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
		for _, n := range r.NotSelected {
			fmt.Fprintf(tw, "  %s\t%s=%s\t%s\n", n.Name, n.TagKey, n.TagValue, n.Reason)
		}
		_ = tw.Flush()
	}

	fmt.Fprintf(&b, "\nEvent queue: %s\n", queueLine(r.Queue))

	writePermissions(&b, r.Permissions)

	writeProblems(&b, r.Problems)
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("writing the report: %w", err)
	}
	return nil
}

// writePermissions writes the permission probes: each read with its result, and the writes that
// no harmless call can prove, in one line.
func writePermissions(b *strings.Builder, perms []Permission) {
	b.WriteString("\nPermissions (reads probed with harmless calls):\n")
	tw := tabwriter.NewWriter(b, 0, 4, 2, ' ', 0)
	var writes []string
	for _, line := range permissionLines(perms) {
		if line.result == PermUnproven {
			writes = append(writes, strings.TrimPrefix(strings.TrimPrefix(line.action, "autoscaling:"), "ecs:"))
			continue
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", line.action, strings.ToUpper(line.result), line.where)
	}
	_ = tw.Flush()
	if len(writes) > 0 {
		fmt.Fprintf(b, "  writes (%s): cannot be proven without a write; compare the role with %s\n", strings.Join(writes, ", "), policyFile)
	}
}

// writeProblems writes each problem with its fix.
func writeProblems(b *strings.Builder, problems []Problem) {
	if len(problems) > 0 {
		b.WriteString("\nProblems and fixes:\n")
		for _, p := range problems {
			fmt.Fprintf(b, "  %-4s %s: %s\n", label(p.Severity), p.Subject, p.Message)
			if p.Fix != "" {
				fmt.Fprintf(b, "       fix: %s\n", p.Fix)
			}
		}
	}
}

type permLine struct{ action, result, where string }

// permissionLines folds the permissions into one line per action and result, listing the scopes
// with the error code of each failure (the problems give the whole error).
func permissionLines(perms []Permission) []permLine {
	var out []permLine
	index := map[[2]string]int{}
	for _, p := range perms {
		k := [2]string{p.Action, p.Result}
		i, ok := index[k]
		if !ok {
			i = len(out)
			index[k] = i
			out = append(out, permLine{action: p.Action, result: p.Result})
		}
		where := strings.TrimPrefix(p.Scope, "cluster ")
		if p.Scope == "*" {
			where = ""
		}
		if p.Code != "" {
			where = strings.TrimSpace(where + " (" + p.Code + ")")
		}
		out[i].where = strings.Join(nonEmpty(out[i].where, where), ", ")
	}
	return out
}

func nonEmpty(ss ...string) []string {
	var out []string
	for _, s := range ss {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

// selectedBy abbreviates what selected a group for the table; the summary line says the tag.
func selectedBy(why string) string {
	var by []string
	if strings.HasPrefix(why, "tag ") {
		by = append(by, "tag")
	}
	if strings.Contains(why, "named") {
		by = append(by, "name")
	}
	return strings.Join(by, "+")
}

func selection(s Settings) string {
	var by []string
	if s.ASGTag != "" {
		by = append(by, "tag "+s.ASGTag)
	}
	if len(s.ASGNames) > 0 {
		by = append(by, "name ("+strings.Join(s.ASGNames, ",")+")")
	}
	return strings.Join(by, " or ")
}

// count says "1 group", "2 groups".
func count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

func seconds(s int) time.Duration { return time.Duration(s) * time.Second }

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// registered summarises where a group's sampled instances are: "web 3/3", "none 0/3", "-".
func registered(g Group) string {
	if g.InstancesChecked == 0 {
		return "-"
	}
	var parts []string
	for _, r := range g.RegisteredIn {
		s := fmt.Sprintf("%s %d/%d", r.Cluster, r.Instances, g.InstancesChecked)
		if !r.InScope {
			s += " (outside --clusters)"
		}
		parts = append(parts, s)
	}
	if g.NotRegistered > 0 {
		parts = append(parts, fmt.Sprintf("none %d/%d", g.NotRegistered, g.InstancesChecked))
	}
	return strings.Join(parts, ", ")
}

func queueLine(q Queue) string {
	if !q.Configured {
		return q.Status + " (no --queue-url)"
	}
	line := q.URL + ": " + q.Status
	if q.Status == QueueStatusReachable {
		line += fmt.Sprintf("; notified by the hooks of %d groups %v (EventBridge rules not checked)", len(q.HookTargets), q.HookTargets)
	}
	return line
}

func label(severity string) string {
	return map[string]string{SeverityFail: "FAIL", SeverityWarning: "WARN", SeverityNote: "NOTE"}[severity]
}

// ExitCode is the check's exit status for a report: 0 when everything would work, 1 when not.
func ExitCode(r *Report) int {
	if r.OK {
		return 0
	}
	return 1
}
