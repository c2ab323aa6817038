using System.ComponentModel;
using System.Diagnostics;

namespace Stratum.Execution.Slurm;

/// <summary>What one Slurm command printed and how it ended.</summary>
public sealed record SlurmCommandResult(int ExitCode, string Stdout, string Stderr, bool TimedOut = false)
{
    public bool Succeeded => ExitCode == 0 && !TimedOut;

    /// <summary>stderr without Slurm's "sbatch: error: " prefixes, one line per message, for people to read.</summary>
    public string Message => string.Join("; ", Stderr
        .Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
        .Select(line => SlurmText.StripCommandPrefix(line)))
        is { Length: > 0 } text ? text : TimedOut ? "timed out" : $"exit code {ExitCode}";
}

/// <summary>
/// Runs Slurm's command-line tools. The executor and discovery go through this, so their parsing is
/// tested on recorded output with a fake, and the integration tests run the real commands.
/// </summary>
public interface ISlurmCommands
{
    /// <summary>Runs <paramref name="program"/> (sbatch, squeue, ...) with arguments as a list, never through a shell. A timeout is a result, not an exception.</summary>
    Task<SlurmCommandResult> RunAsync(string program, IReadOnlyList<string> arguments, CancellationToken cancellationToken = default);
}

/// <summary>The Slurm controller could not be reached: retrying later can help.</summary>
public sealed class SlurmUnavailableException(string message) : IOException(message);

/// <summary>Runs the real commands as child processes, with the server's environment less its STRATUM_* variables.</summary>
public sealed class SlurmCommands : ISlurmCommands
{
    private readonly SlurmOptions _options;

    public SlurmCommands(SlurmOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        _options = options;
    }

    public async Task<SlurmCommandResult> RunAsync(string program, IReadOnlyList<string> arguments, CancellationToken cancellationToken = default)
    {
        var startInfo = new ProcessStartInfo(program)
        {
            UseShellExecute = false,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var argument in arguments)
        {
            startInfo.ArgumentList.Add(argument);
        }

        // sbatch exports this environment into the job (--export=ALL): the server's own STRATUM_*
        // variables may hold its address or an admin token, so they stay behind, as with the local executor.
        foreach (var key in startInfo.Environment.Keys.Where(k => k.StartsWith("STRATUM_", StringComparison.Ordinal)).ToList())
        {
            startInfo.Environment.Remove(key);
        }

        if (_options.ConfigFile is { } config)
        {
            startInfo.Environment["SLURM_CONF"] = config;
        }

        using var process = new Process { StartInfo = startInfo };
        try
        {
            process.Start();
        }
        catch (Win32Exception e)
        {
            return new SlurmCommandResult(127, "", $"{program}: cannot start: {e.Message}");
        }

        process.StandardInput.Close();
        var stdout = process.StandardOutput.ReadToEndAsync(cancellationToken);
        var stderr = process.StandardError.ReadToEndAsync(cancellationToken);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_options.CommandTimeout);
        try
        {
            await process.WaitForExitAsync(timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // A hung command (a controller that accepts connections but never answers) must not hang the caller.
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync(CancellationToken.None).ConfigureAwait(false);
            cancellationToken.ThrowIfCancellationRequested();
            return new SlurmCommandResult(process.ExitCode, await stdout.ConfigureAwait(false), await stderr.ConfigureAwait(false), TimedOut: true);
        }

        return new SlurmCommandResult(process.ExitCode, await stdout.ConfigureAwait(false), await stderr.ConfigureAwait(false));
    }
}
