package awssim

import (
	"strings"
	"testing"
	"time"
)

var cqlSample = &cqlInstance{
	EC2InstanceID:     "i-0abc",
	RunningTasksCount: 3,
	AgentConnected:    true,
	AgentVersion:      "1.99.0",
	RegisteredAt:      time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC),
	Attributes:        map[string]string{"ecs.instance-type": "t3.large", "ecs.capability.task-eni": ""},
	TaskGroups:        []string{"service:web", "family:job"},
}

func TestCQLEval(t *testing.T) {
	tests := []struct {
		filter string
		want   bool
	}{
		{"ec2InstanceId == i-0abc", true},
		{"ec2InstanceId == 'i-0abc'", true},
		{`ec2InstanceId == "i-0abd"`, false},
		{"ec2InstanceId equals i-0abc", true},
		{"ec2InstanceId != i-0abc", false},
		{"ec2InstanceId in ['i-1', 'i-0abc']", true},
		{"ec2InstanceId in ('i-1', i-2)", false},
		{"ec2InstanceId not_in ['i-1']", true},
		{"ec2InstanceId !in ['i-0abc']", false},
		{"ec2InstanceId =~ i-0.*", true},
		{"ec2InstanceId matches 'i-0a'", false}, // the whole value must match
		{"ec2InstanceId !~ 'i-9.*'", true},
		{"runningTasksCount > 2", true},
		{"runningTasksCount >= 4", false},
		{"runningTasksCount < 4 and runningTasksCount <= 3", true},
		{"runningTasksCount in [1, 3]", true},
		{"runningTasksCount == 0", false},
		{"agentConnected == true", true},
		{"agentConnected != TRUE", false},
		{"agentVersion == 1.99.0", true},
		{"registeredAt < 2026-03-02", true},
		{"registeredAt > 2026-03-01T12:00:01Z", false},
		{"task:group == service:web", true},
		{"task:group == service:api", false},
		{"task:group != service:api", true},
		{"task:group != service:web", false},
		{"attribute:ecs.instance-type =~ t3.*", true},
		{"attribute:ecs.capability.task-eni exists", true},
		{"attribute:ecs.missing exists", false},
		{"attribute:ecs.missing !exists", true},
		{"attribute:ecs.missing not_exists and ec2InstanceId == i-0abc", true},
		{"ec2InstanceId == i-1 or ec2InstanceId == i-0abc", true},
		{"ec2InstanceId == i-1 || ec2InstanceId == i-2", false},
		{"ec2InstanceId == i-0abc && runningTasksCount == 0", false},
		{"ec2InstanceId == i-1 or ec2InstanceId == i-0abc and runningTasksCount == 0", false}, // and binds tighter
		{"(ec2InstanceId == i-1 or ec2InstanceId == i-0abc) and runningTasksCount == 3", true},
		{"not ec2InstanceId == i-1", true},
		{"!(ec2InstanceId == i-0abc)", false},
		{"NOT (ec2InstanceId == i-1 OR ec2InstanceId == i-2)", true},
		{"  ec2InstanceId==i-0abc  ", true},
	}
	for _, tt := range tests {
		t.Run(tt.filter, func(t *testing.T) {
			e, err := parseCQL(tt.filter)
			if err != nil {
				t.Fatalf("parse error: %v", err)
			}
			if got := e.eval(cqlSample); got != tt.want {
				t.Errorf("eval = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestCQLErrors(t *testing.T) {
	tests := []struct {
		filter  string
		wantMsg string // a part of the error naming what is wrong
	}{
		{"", "empty"},
		{"   ", "empty"},
		{"color == red", `unknown subject "color"`},
		{"attribute: == x", `unknown subject "attribute:"`},
		{"ec2InstanceId", "expected an operator"},
		{"ec2InstanceId i-1", "expected an operator"},
		{"ec2InstanceId ==", "expected a value"},
		{"ec2InstanceId == (", "expected a value"},
		{"ec2InstanceId in i-1", "expected a list"},
		{"ec2InstanceId in ['i-1'", "expected ',' or the end of the list"},
		{"ec2InstanceId in ['i-1')", "expected ',' or the end of the list"},
		{"ec2InstanceId in []", "expected a list value"},
		{"ec2InstanceId in ['i-1',]", "expected a list value"},
		{"ec2InstanceId == 'i-1", "unterminated quoted string"},
		{"ec2InstanceId = i-1", `unexpected "="`},
		{"ec2InstanceId == i-1 & runningTasksCount > 1", `unexpected "&"`},
		{"ec2InstanceId == i-1 runningTasksCount > 1", "expected and, or"},
		{"(ec2InstanceId == i-1", "expected ')'"},
		{"ec2InstanceId == i-1)", "unexpected \")\""},
		{"ec2InstanceId > i-1", "cannot be used with ec2InstanceId"},
		{"agentConnected in [true]", "cannot be used with agentConnected"},
		{"runningTasksCount > many", "whole numbers"},
		{"agentConnected == yes", "true or false"},
		{"registeredAt > yesterday", "date"},
		{"ec2InstanceId =~ '('", "invalid regular expression"},
		{"ec2InstanceId == i-1 and", "expected a subject"},
		{"and", `unknown subject "and"`},
		{"!", "expected a subject"},
		{strings.Repeat("(", 100) + "ec2InstanceId == i-1" + strings.Repeat(")", 100), "nests deeper"},
		{strings.Repeat("not ", 100) + "ec2InstanceId == i-1", "nests deeper"},
		{"ec2InstanceId == " + strings.Repeat("x", cqlMaxLen), "at most"},
	}
	for _, tt := range tests {
		name := tt.filter
		if len(name) > 60 {
			name = name[:60]
		}
		t.Run(name, func(t *testing.T) {
			_, err := parseCQL(tt.filter)
			if err == nil {
				t.Fatal("parsed, want an error")
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("error %q does not mention %q", err, tt.wantMsg)
			}
		})
	}
}

// FuzzParseCQL: no input makes the parser or the evaluator panic, and what parses evaluates.
func FuzzParseCQL(f *testing.F) {
	for _, seed := range []string{
		"ec2InstanceId == i-1",
		"ec2InstanceId in ['i-1', \"i-2\"] or (runningTasksCount > 1 and agentConnected == false)",
		"not task:group == service:web && !(attribute:ecs.os-type !exists)",
		"ec2InstanceId =~ 'i-[0-9a-f]+' || registeredAt >= 2026-01-01",
		"ec2InstanceId !in (a,b,c)",
		"((((",
		"'unterminated",
		"ec2InstanceId == i-1 ) (",
		"&& || ! == != =~ !~ >= <= > <",
		"\x00\xff[],",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		e, err := parseCQL(s)
		if err != nil {
			if e != nil {
				t.Errorf("parse error %v with a non-nil expression", err)
			}
			return
		}
		_ = e.eval(cqlSample)
		_ = e.eval(&cqlInstance{})
	})
}
