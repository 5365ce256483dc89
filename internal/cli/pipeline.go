package cli

import "github.com/spf13/cobra"

// pipelineArg is how every command names its pipeline: -p/--pipeline, or,
// where a command takes no other argument, its first argument, as `run`
// has it; both only when they agree. Neither: the only pipeline.
type pipelineArg struct{ flag string }

// register adds -p/--pipeline to cmd.
func (p *pipelineArg) register(cmd *cobra.Command) {
	cmd.Flags().StringVarP(&p.flag, "pipeline", "p", "", "pipeline (default: the only one)")
}

// name is the pipeline that the flag or args[0] names.
func (p *pipelineArg) name(args []string) (string, error) {
	if len(args) == 0 {
		return p.flag, nil
	}
	if p.flag != "" && p.flag != args[0] {
		return "", usagef("pipeline %s and --pipeline %s: name one", args[0], p.flag)
	}
	return args[0], nil
}
