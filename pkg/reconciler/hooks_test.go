package reconciler

import (
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/google/go-cmp/cmp"
)

func hook(name, transition string, heartbeat int32) astypes.LifecycleHook {
	return astypes.LifecycleHook{
		LifecycleHookName:   aws.String(name),
		LifecycleTransition: aws.String(transition),
		HeartbeatTimeout:    aws.Int32(heartbeat),
	}
}

const transitionLaunching = "autoscaling:EC2_INSTANCE_LAUNCHING"

func TestSelectHook(t *testing.T) {
	drain := hook("drain", transitionTerminating, 300)
	other := hook("other", transitionTerminating, 600)
	launch := hook("warmup", transitionLaunching, 300)
	ecsHook := hook(ECSManagedHookName, transitionTerminating, 3600)
	for _, tc := range []struct {
		name        string
		hooks       []astypes.LifecycleHook
		want        string
		wantHook    string
		wantProblem hookProblem
		wantECS     bool
	}{
		{"single terminating hook", []astypes.LifecycleHook{launch, drain}, "", "drain", hookOK, false},
		{"no hooks", nil, "", "", hookNone, false},
		{"only launching", []astypes.LifecycleHook{launch}, "", "", hookNone, false},
		{"only ECS managed", []astypes.LifecycleHook{ecsHook}, "", "", hookOnlyECSManaged, true},
		{"ours beside ECS's", []astypes.LifecycleHook{ecsHook, drain}, "", "drain", hookOK, true},
		{"ambiguous", []astypes.LifecycleHook{drain, other}, "", "", hookAmbiguous, false},
		{"named among several", []astypes.LifecycleHook{drain, other}, "other", "other", hookOK, false},
		{"named missing", []astypes.LifecycleHook{drain}, "nope", "", hookNotFound, false},
		{"named launching", []astypes.LifecycleHook{launch, drain}, "warmup", "", hookNotTerminating, false},
		{"named ECS managed", []astypes.LifecycleHook{ecsHook, drain}, ECSManagedHookName, "", hookIsECSManaged, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := selectHook(tc.hooks, tc.want)
			if got.hook.name != tc.wantHook || got.problem != tc.wantProblem || got.ecsManaged != tc.wantECS {
				t.Errorf("selectHook = hook %q problem %v ecs %v, want %q %v %v", got.hook.name, got.problem, got.ecsManaged, tc.wantHook, tc.wantProblem, tc.wantECS)
			}
			if got.problem == hookAmbiguous && !cmp.Equal(got.candidates, []string{"drain", "other"}) {
				t.Errorf("candidates = %v", got.candidates)
			}
		})
	}
}

func TestSelectHookTimeouts(t *testing.T) {
	h := hook("drain", transitionTerminating, 300)
	got := selectHook([]astypes.LifecycleHook{h}, "").hook
	want := hookInfo{name: "drain", heartbeatTimeout: 300 * time.Second, globalTimeout: 30000 * time.Second}
	if got != want {
		t.Errorf("hook = %+v, want %+v", got, want)
	}
	h.GlobalTimeout = aws.Int32(1000)
	if got := selectHook([]astypes.LifecycleHook{h}, "").hook.globalTimeout; got != 1000*time.Second {
		t.Errorf("reported global timeout = %v, want 1000s", got)
	}
}

func TestGlobalTimeout(t *testing.T) {
	for _, tc := range []struct {
		heartbeat, reported, want time.Duration
	}{
		{30 * time.Second, 0, 3000 * time.Second},
		{3600 * time.Second, 0, 48 * time.Hour},
		{7200 * time.Second, 0, 48 * time.Hour},
		{300 * time.Second, 600 * time.Second, 600 * time.Second},
	} {
		if got := globalTimeout(tc.heartbeat, tc.reported); got != tc.want {
			t.Errorf("globalTimeout(%v, %v) = %v, want %v", tc.heartbeat, tc.reported, got, tc.want)
		}
	}
}

func TestEffectiveDrainTimeout(t *testing.T) {
	for _, tc := range []struct {
		name                       string
		configured, global, margin time.Duration
		want                       time.Duration
		reduced                    bool
	}{
		{"fits", time.Hour, 48 * time.Hour, 5 * time.Minute, time.Hour, false},
		{"cut to global less margin", time.Hour, 3000 * time.Second, 200 * time.Second, 2800 * time.Second, true},
		{"exactly the limit", 2800 * time.Second, 3000 * time.Second, 200 * time.Second, 2800 * time.Second, false},
		{"margin swallows the global timeout", time.Hour, 100 * time.Second, 200 * time.Second, 50 * time.Second, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, reduced := effectiveDrainTimeout(tc.configured, tc.global, tc.margin)
			if got != tc.want || reduced != tc.reduced {
				t.Errorf("effectiveDrainTimeout = %v, %v; want %v, %v", got, reduced, tc.want, tc.reduced)
			}
		})
	}
}

func TestHeartbeatDue(t *testing.T) {
	now := epoch.Add(time.Hour)
	far := now.Add(time.Hour)
	for _, tc := range []struct {
		name      string
		last, end time.Time
		heartbeat time.Duration
		want      bool
	}{
		{"unknown last heartbeat: at once", time.Time{}, far, 300 * time.Second, true},
		{"recent", now.Add(-100 * time.Second), far, 300 * time.Second, false},
		{"half the timeout passed", now.Add(-150 * time.Second), far, 300 * time.Second, true},
		{"past the global timeout", now.Add(-200 * time.Second), now, 300 * time.Second, false},
		{"no timeout known", time.Time{}, far, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := heartbeatDue(now, tc.last, tc.end, tc.heartbeat); got != tc.want {
				t.Errorf("heartbeatDue = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestInstanceFilter(t *testing.T) {
	got := instanceFilter([]string{"i-1", "i-2"})
	if want := "ec2InstanceId in ['i-1', 'i-2']"; got != want {
		t.Errorf("instanceFilter = %q, want %q", got, want)
	}
}

func TestTaskService(t *testing.T) {
	for _, tc := range []struct {
		task        taskInfo
		wantName    string
		wantService bool
	}{
		{taskInfo{group: "service:web", startedBy: "ecs-svc/1234567890123456789"}, "web", true},
		{taskInfo{group: "family:job"}, "", false},
		{taskInfo{group: "family:job", startedBy: "cron"}, "", false},
		{taskInfo{startedBy: "ecs-svc/1"}, "", true},
	} {
		name, ok := tc.task.service()
		if name != tc.wantName || ok != tc.wantService {
			t.Errorf("%+v.service() = %q, %v; want %q, %v", tc.task, name, ok, tc.wantName, tc.wantService)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	if err := testConfig().Validate(); err != nil {
		t.Fatalf("test configuration invalid: %v", err)
	}
	bad := Config{ManageHooks: true, HookHeartbeatTimeout: 10 * time.Second, StandaloneTaskPolicy: "kill", DrainTimeoutAction: "explode"}
	err := bad.Validate()
	if err == nil {
		t.Fatal("Validate accepted a bad configuration")
	}
	// Every problem is reported at once.
	for _, want := range []string{"no groups selected", "heartbeat timeout", "resync period", "poll interval",
		"standalone task policy", "drain timeout 0s", "drain timeout action", "workers"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Validate error %q does not mention %q", err, want)
		}
	}
	slowResync := testConfig()
	slowResync.ManageHooks, slowResync.HookHeartbeatTimeout, slowResync.ResyncPeriod = true, time.Minute, 31*time.Second
	if err := slowResync.Validate(); err == nil || !strings.Contains(err.Error(), "resync period 31s must be at most half the hook heartbeat timeout") {
		t.Errorf("Validate of a resync period over half the created hooks' heartbeat timeout: %v", err)
	}
	if _, err := New(bad, Deps{}); err == nil {
		t.Error("New accepted a bad configuration")
	}
	if _, err := New(testConfig(), Deps{}); err == nil {
		t.Error("New accepted missing clients")
	}
}
