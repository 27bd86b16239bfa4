package vmm

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/isobench/isobench/internal/backend"
)

func TestChooseAccel(t *testing.T) {
	noKVM := errors.New("cannot open /dev/kvm")
	bootFails := errors.New("failed to set MSR 0x10a")
	cases := []struct {
		name       string
		choice     backend.AccelChoice
		emulates   bool
		kvmErr     error
		kvmBoots   bool
		want       backend.Accel
		wantProbes []backend.Accel
		wantErr    bool
	}{
		{"auto, KVM works", backend.AccelAuto, true, nil, true, backend.AccelKVM, []backend.Accel{"kvm"}, false},
		{"auto, KVM opens but cannot boot", backend.AccelAuto, true, nil, false, backend.AccelTCG, []backend.Accel{"kvm", "tcg"}, false},
		{"auto, no /dev/kvm", backend.AccelAuto, true, noKVM, false, backend.AccelTCG, []backend.Accel{"tcg"}, false},
		{"auto, no KVM, VMM cannot emulate", backend.AccelAuto, false, noKVM, false, "", nil, true},
		{"auto, broken KVM, VMM cannot emulate", backend.AccelAuto, false, nil, false, "", []backend.Accel{"kvm"}, true},
		{"forced tcg", backend.AccelOnlyTCG, true, nil, true, backend.AccelTCG, []backend.Accel{"tcg"}, false},
		{"forced tcg, VMM cannot emulate", backend.AccelOnlyTCG, false, nil, true, "", nil, true},
		{"forced kvm without /dev/kvm", backend.AccelOnlyKVM, true, noKVM, false, "", nil, true},
		{"forced kvm that cannot boot", backend.AccelOnlyKVM, true, nil, false, "", []backend.Accel{"kvm"}, true},
		{"unknown choice", "hvf", true, nil, true, "", nil, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var probes []backend.Accel
			probe := func(_ context.Context, a backend.Accel) error {
				probes = append(probes, a)
				if a == backend.AccelKVM && !c.kvmBoots {
					return bootFails
				}
				return nil
			}
			got, note, err := chooseAccel(t.Context(), c.choice, c.emulates, c.kvmErr, probe)
			if (err != nil) != c.wantErr || got != c.want {
				t.Fatalf("got %q, %v; want %q (error: %v)", got, err, c.want, c.wantErr)
			}
			if !slices.Equal(probes, c.wantProbes) {
				t.Errorf("probed %v, want %v (each acceleration at most once)", probes, c.wantProbes)
			}
			if got == backend.AccelTCG && note == "" {
				t.Error("a TCG choice carries no note for the reports")
			}
		})
	}
}
