using Stratum.Client.Contracts;

namespace Stratum.EndToEnd.Tests;

/// <summary><c>stratum up</c> itself: a clean stop on Ctrl-C, the same data after a restart, and the CLI without a server.</summary>
public sealed class ServerLifecycleTests : IDisposable
{
    private readonly string _dataDirectory = Path.Combine(Path.GetTempPath(), "stratum-e2e-" + Guid.NewGuid().ToString("N")[..12]);

    public ServerLifecycleTests() => Directory.CreateDirectory(_dataDirectory);

    public void Dispose()
    {
        try
        {
            Directory.Delete(_dataDirectory, recursive: true);
        }
        catch (IOException)
        {
            // A job's process may still hold a file; the temp directory is cleaned by the OS eventually.
        }
    }

    [Fact]
    public async Task Up_StoppedBySigintAndStartedAgain_KeepsItsJobs()
    {
        JobDto submitted;
        await using (var first = await ServerProcess.StartAsync(_dataDirectory))
        {
            var result = await RunAsync("jobs", "submit", "--cpus", "100m", "--memory", "64Mi", "--name", "survivor", "--output", "json", "--", "true");
            Assert.True(result.ExitCode == 0, result.ToString());
            submitted = System.Text.Json.JsonSerializer.Deserialize<JobDto>(result.Stdout, ServerFixture.Json)!;

            var exitCode = await first.StopAsync();
            Assert.True(exitCode == 0, $"'stratum up' did not stop cleanly on SIGINT (exit {exitCode?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "none: killed"}):\n{first.Output}");
        }

        await using var second = await ServerProcess.StartAsync(_dataDirectory);
        var shown = await RunAsync("jobs", "show", submitted.Id.ToString(System.Globalization.CultureInfo.InvariantCulture), "--output", "json");

        Assert.True(shown.ExitCode == 0, shown.ToString());
        Assert.Equal("survivor", System.Text.Json.JsonSerializer.Deserialize<JobDto>(shown.Stdout, ServerFixture.Json)!.Name);
    }

    [Fact]
    public async Task JobsList_NoServerInTheDataDirectory_ExitsUnreachableWithOneLine()
    {
        var result = await RunAsync("jobs", "list");

        Assert.True(result.ExitCode == 5, result.ToString());
        Assert.Equal(string.Empty, result.Stdout);
        var line = Assert.Single(result.Stderr.Trim().Split('\n'));
        Assert.Contains("stratum up", line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Nodes_ServerAddressNotListening_ExitsUnreachable()
    {
        var result = await StratumProgram.RunAsync(
            ["nodes", "--output", "json"],
            new Dictionary<string, string?> { ["STRATUM_ADDR"] = "http://127.0.0.1:9", ["STRATUM_TOKEN"] = "whatever" });

        Assert.True(result.ExitCode == 5, result.ToString());
        Assert.Equal(string.Empty, result.Stdout);
        Assert.Contains("127.0.0.1:9", result.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Jobs_UnknownSubcommand_ExitsUsage()
    {
        var result = await RunAsync("jobs", "explode");

        Assert.True(result.ExitCode == 2, result.ToString());
        Assert.Contains("explode", result.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Server_ConfigWithUnknownKey_ExitsInvalidNamingTheKey()
    {
        var config = Path.Combine(_dataDirectory, "server.yaml");
        await File.WriteAllTextAsync(config, "port: 0\nprot: 8470\n");

        var result = await RunAsync("server", "--config", config);

        Assert.True(result.ExitCode == 6, result.ToString());
        Assert.Contains("prot", result.Stderr, StringComparison.Ordinal);
    }

    private Task<ProgramResult> RunAsync(params string[] args) =>
        StratumProgram.RunAsync(args, new Dictionary<string, string?> { ["STRATUM_DATA"] = _dataDirectory });
}
