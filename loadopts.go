package bpfvm

// WithProgramType loads the program named name with type t, whatever its
// ELF section says: for programs in sections libbpf does not recognise
// (which otherwise fail the load), as libbpf's bpf_program__set_type. It
// has the effect of setting ProgramSpec.Type before LoadCollection.
func WithProgramType(name string, t ProgramType) Option {
	return func(r *Runtime) {
		if r.progTypes == nil {
			r.progTypes = map[string]ProgramType{}
		}
		r.progTypes[name] = t
	}
}
