using System.Diagnostics;
using System.Text;

namespace Stratum.EndToEnd.Tests;

/// <summary>What one run of <c>stratum</c> did.</summary>
public sealed record ProgramResult(int ExitCode, string Stdout, string Stderr)
{
    public override string ToString() => $"exit {ExitCode}\n--- stdout\n{Stdout}\n--- stderr\n{Stderr}";
}

/// <summary>Runs the real <c>stratum</c> program (stratum.dll next to the tests) as a child process.</summary>
public static class StratumProgram
{
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(60);

    public static string DllPath { get; } = Path.Combine(AppContext.BaseDirectory, "stratum.dll");

    /// <summary>A process start for <c>dotnet stratum.dll ARGS</c> with a clean environment: no STRATUM_* from the developer's shell.</summary>
    public static ProcessStartInfo StartInfo(IEnumerable<string> args, IReadOnlyDictionary<string, string?>? environment = null)
    {
        if (!File.Exists(DllPath))
        {
            throw new InvalidOperationException($"{DllPath} is missing; the test project must reference src/Stratum.Cli");
        }

        var start = new ProcessStartInfo(DotnetHost())
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            StandardOutputEncoding = Encoding.UTF8,
            StandardErrorEncoding = Encoding.UTF8,
        };
        start.ArgumentList.Add(DllPath);
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        foreach (var name in new[] { "STRATUM_ADDR", "STRATUM_TOKEN", "STRATUM_DATA", "STRATUM_INVOKED_AS" })
        {
            start.Environment.Remove(name);
        }

        start.Environment["NO_COLOR"] = "1";
        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        foreach (var (name, value) in environment ?? new Dictionary<string, string?>())
        {
            if (value is null)
            {
                start.Environment.Remove(name);
            }
            else
            {
                start.Environment[name] = value;
            }
        }

        return start;
    }

    /// <summary>Runs to completion; killed and reported as a failure when it takes longer than <paramref name="timeout"/>.</summary>
    public static async Task<ProgramResult> RunAsync(IEnumerable<string> args, IReadOnlyDictionary<string, string?>? environment = null, TimeSpan? timeout = null)
    {
        var argList = args.ToList();
        using var process = Process.Start(StartInfo(argList, environment)) ?? throw new InvalidOperationException("could not start dotnet");
        process.StandardInput.Close();
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var deadline = new CancellationTokenSource(timeout ?? DefaultTimeout);
        try
        {
            await process.WaitForExitAsync(deadline.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(10));
            Assert.Fail($"'stratum {string.Join(' ', argList)}' did not finish within {(timeout ?? DefaultTimeout).TotalSeconds}s\n{await stdout}\n{await stderr}");
        }

        return new ProgramResult(process.ExitCode, await stdout.WaitAsync(TimeSpan.FromSeconds(10)), await stderr.WaitAsync(TimeSpan.FromSeconds(10)));
    }

    private static string DotnetHost() =>
        Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host && File.Exists(host) ? host : "dotnet";
}
