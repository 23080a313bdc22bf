package check

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"unicode"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"

	"github.com/ecs-drainer/ecs-drainer/pkg/awsapi"
	"github.com/ecs-drainer/ecs-drainer/pkg/reconciler"
)

// maxKeyDistance is how many single-character edits away from the selecting tag key a group's tag
// key may be and still be taken for a misspelling of it (ecs-drainer/enable, ecs-drainer/enalbed).
const maxKeyDistance = 2

// falsy are tag values that say "do not manage this group": a deliberate opt-out, not a mistake.
var falsy = []string{"false", "no", "off", "0", "disabled"}

// checkUnselected lists every group of the account (100 per call) to find those the controller
// does not select although they carry the selecting tag key with another value, or a key that
// looks like a misspelling of it, and reports the names in --asg-names that match no group.
func (c *checker) checkUnselected(ctx context.Context, selected []reconciler.SelectedGroup) {
	isSelected := map[string]bool{}
	for _, s := range selected {
		isSelected[aws.ToString(s.Group.AutoScalingGroupName)] = true
	}
	for _, n := range c.rcfg.ASGNames {
		if !isSelected[n] {
			c.problem(SeverityFail, "named-group-not-found", n, "--asg-names names "+n+", but no Auto Scaling group has that name (in this region)",
				"correct or remove "+n+" in --asg-names")
		}
	}
	if c.rcfg.ASGTagKey == "" {
		return
	}
	p := autoscaling.NewDescribeAutoScalingGroupsPaginator(c.as, &autoscaling.DescribeAutoScalingGroupsInput{
		MaxRecords: aws.Int32(awsapi.MaxAutoScalingGroupsPerPage),
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			c.problem(SeverityWarning, "near-misses-unknown", "selection", "could not list every group to look for near misses of the tag: "+err.Error(), fixReachAWS)
			return
		}
		for _, g := range page.AutoScalingGroups {
			name := aws.ToString(g.AutoScalingGroupName)
			if isSelected[name] {
				continue
			}
			if ns, ok := c.nearMiss(name, g.Tags); ok {
				c.rep.NotSelected = append(c.rep.NotSelected, ns)
			}
		}
	}
	slices.SortFunc(c.rep.NotSelected, func(a, b NotSelected) int { return strings.Compare(a.Name, b.Name) })
}

// nearMiss says whether an unselected group's tags come close to the selecting tag, records the
// finding, and returns it.
func (c *checker) nearMiss(group string, tags []astypes.TagDescription) (NotSelected, bool) {
	wantKey, wantValue := c.rcfg.ASGTagKey, c.rcfg.ASGTagValue
	for _, t := range tags {
		key, value := aws.ToString(t.Key), aws.ToString(t.Value)
		sameKey := key == wantKey
		if !sameKey && !keyLooksLike(key, wantKey) {
			continue
		}
		ns := NotSelected{Name: group, TagKey: key, TagValue: value}
		switch {
		case slices.Contains(falsy, strings.ToLower(value)):
			ns.Reason = fmt.Sprintf("opted out: %s=%s", key, value)
			c.problem(SeverityNote, "tag-opted-out", group, "not selected: it carries "+key+"="+value+", an opt-out", "to manage it: "+c.tagFix(group))
		case sameKey:
			ns.Reason = fmt.Sprintf("value %q is not %q", value, wantValue)
			c.problem(SeverityFail, "tag-value-mismatch", group, fmt.Sprintf("NOT selected: it carries %s=%s, but --asg-tag wants the value %s exactly", key, value, wantValue), c.tagFix(group))
		default:
			ns.Reason = fmt.Sprintf("key %q is not %q (misspelled?)", key, wantKey)
			c.problem(SeverityFail, "tag-key-misspelled", group, fmt.Sprintf("NOT selected: it carries %s=%s, which looks like a misspelling of %s", key, value, c.cfg.ASGTag),
				c.tagFix(group)+" && "+untagFix(group, key))
		}
		return ns, true
	}
	return NotSelected{}, false
}

// keyLooksLike reports whether key is probably a misspelling of want: equal once case and
// punctuation are ignored, or a few edits away.
func keyLooksLike(key, want string) bool {
	if squash(key) == squash(want) {
		return true
	}
	return len(want) > 2*maxKeyDistance && editDistance(strings.ToLower(key), strings.ToLower(want)) <= maxKeyDistance
}

// squash keeps the letters and digits of s, lower-cased.
func squash(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			return unicode.ToLower(r)
		}
		return -1
	}, s)
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}
