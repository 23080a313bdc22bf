package reconciler

import (
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/google/go-cmp/cmp"

	"github.com/ecs-drainer/ecs-drainer/pkg/awsapi"
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
	drain := hook("drain", awsapi.TransitionTerminating, 300)
	other := hook("other", awsapi.TransitionTerminating, 600)
	launch := hook("warmup", transitionLaunching, 300)
	ecsHook := hook(ECSManagedHookName, awsapi.TransitionTerminating, 3600)
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
	h := hook("drain", awsapi.TransitionTerminating, 300)
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
	for _, want := range []string{"--asg-tag is empty", "--hook-heartbeat-timeout is 10s", "--resync-period is 0s", "--poll-interval is 0s",
		"--standalone-task-policy is \"kill\"", "--drain-timeout is 0s", "--drain-timeout-action is \"explode\"", "--workers is 0"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Validate error %q does not mention %q", err, want)
		}
	}
	slowResync := testConfig()
	slowResync.ManageHooks, slowResync.HookHeartbeatTimeout, slowResync.ResyncPeriod = true, time.Minute, 31*time.Second
	if err := slowResync.Validate(); err == nil || !strings.Contains(err.Error(), "--resync-period is 31s, more than half --hook-heartbeat-timeout 1m0s") {
		t.Errorf("Validate of a resync period over half the created hooks' heartbeat timeout: %v", err)
	}
	if _, err := New(bad, Deps{}); err == nil {
		t.Error("New accepted a bad configuration")
	}
	if _, err := New(testConfig(), Deps{}); err == nil {
		t.Error("New accepted missing clients")
	}
}
