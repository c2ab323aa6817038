using System.Diagnostics;
using System.Text.Json;

namespace Stratum.EndToEnd.Tests;

/// <summary>What an operator runs before and around the service: <c>server --check-config</c> and the systemd unit.</summary>
public sealed class OperatingTests : IDisposable
{
    private readonly DirectoryInfo _directory = Directory.CreateTempSubdirectory("stratum-ops-");

    public void Dispose() => _directory.Delete(recursive: true);

    [Fact]
    public async Task CheckConfig_GoodSettings_ReportsEveryCheckAndExitsZeroWithoutCreatingAnything()
    {
        var data = Path.Combine(_directory.FullName, "data");
        var config = Path.Combine(_directory.FullName, "server.yaml");
        await File.WriteAllTextAsync(config, $"dataDirectory: {data}\nport: 0\nschedulingPolicy: priority\n");

        var result = await StratumProgram.RunAsync(["server", "--config", config, "--check-config", "--output", "json"]);

        Assert.True(result.ExitCode == 0, result.ToString());
        using var findings = JsonDocument.Parse(result.Stdout);
        var checks = findings.RootElement.EnumerateArray().ToDictionary(f => f.GetProperty("check").GetString()!, f => f.GetProperty("outcome").GetString());
        Assert.Equal(["data directory", "database", "port", "settings"], checks.Keys.Order(StringComparer.Ordinal));
        Assert.All(checks.Values, outcome => Assert.Equal("ok", outcome));
        Assert.False(Directory.Exists(data), "--check-config must not create the data directory");
    }

    [Fact]
    public async Task CheckConfig_UnreachableDatabaseAndUnknownPolicy_FailsNamingBoth()
    {
        var config = Path.Combine(_directory.FullName, "server.yaml");
        await File.WriteAllTextAsync(config, $"dataDirectory: {_directory.FullName}\nport: 0\ndatabase: postgres://stratum:hunter2@127.0.0.1:1/stratum\n");

        var unreachable = await StratumProgram.RunAsync(["server", "--config", config, "--check-config"]);
        await File.AppendAllTextAsync(config, "schedulingPolicy: quickest\n");
        var invalid = await StratumProgram.RunAsync(["server", "--config", config, "--check-config"]);

        Assert.Equal(6, unreachable.ExitCode);
        Assert.Contains("127.0.0.1:1", unreachable.Stdout + unreachable.Stderr, StringComparison.Ordinal);
        Assert.Contains("would wait for it", unreachable.Stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("hunter2", unreachable.Stdout + unreachable.Stderr, StringComparison.Ordinal);
        Assert.Equal(6, invalid.ExitCode);
        Assert.Contains("schedulingPolicy: 'quickest'", invalid.Stdout + invalid.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task SystemdUnit_PassesSystemdAnalyzeVerify()
    {
        const string Analyzer = "/usr/bin/systemd-analyze";
        if (!File.Exists(Analyzer))
        {
            Assert.True(Environment.GetEnvironmentVariable("CI") != "true", "systemd-analyze is missing under CI: .ci/run installs Debian's systemd package");
            return;
        }

        var unit = Path.Combine(RepositoryRoot(), "packaging", "systemd", "stratum.service");
        // verify insists that ExecStart exists; the unit names where the install guide puts the program.
        var copy = Path.Combine(_directory.FullName, "stratum.service");
        await File.WriteAllTextAsync(copy, (await File.ReadAllTextAsync(unit)).Replace("/opt/stratum/stratum", "/bin/true", StringComparison.Ordinal));
        var start = new ProcessStartInfo(Analyzer, ["verify", copy]) { RedirectStandardOutput = true, RedirectStandardError = true };
        using var process = Process.Start(start)!;
        var output = await process.StandardOutput.ReadToEndAsync() + await process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();

        // systemd-analyze exits 0 on many problems and only prints them: any output is a finding.
        Assert.True(process.ExitCode == 0 && string.IsNullOrWhiteSpace(output), output);
    }

    private static string RepositoryRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "Stratum.slnx")))
            {
                return directory.FullName;
            }
        }

        throw new InvalidOperationException("the tests run outside the repository: Stratum.slnx not found above " + AppContext.BaseDirectory);
    }
}
