using Stratum.Execution.Slurm;

namespace Stratum.Execution.Tests.Slurm;

/// <summary>Answers Slurm commands from a function and records every call.</summary>
internal sealed class FakeSlurmCommands(Func<string, IReadOnlyList<string>, SlurmCommandResult> answer) : ISlurmCommands
{
    public List<(string Program, IReadOnlyList<string> Arguments)> Calls { get; } = [];

    public Task<SlurmCommandResult> RunAsync(string program, IReadOnlyList<string> arguments, CancellationToken cancellationToken = default)
    {
        Calls.Add((program, arguments));
        return Task.FromResult(answer(program, arguments));
    }
}
