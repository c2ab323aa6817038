using System.Text.Json;
using Stratum.Cli;

namespace Stratum.Planning.Tests.Cli;

public sealed class PlanCommandTests
{
    [Fact]
    public async Task RunAsync_TrainJson_HasTheIssueFields()
    {
        var (code, stdout, _) = await Run("plan", "train", "--params", "176e9", "--tokens", "366e9", "--gpu", "nvidia-a100-80gb", "--gpus", "384", "--output", "json");

        Assert.Equal(ExitCodes.Ok, code);
        using var json = JsonDocument.Parse(stdout);
        var root = json.RootElement;
        Assert.True(root.GetProperty("gpuHours").GetDouble() > 0);
        Assert.True(root.GetProperty("wallClockDays").GetDouble() > 0);
        Assert.InRange(root.GetProperty("mfu").GetDouble(), 0.05, 0.95);
        Assert.True(root.GetProperty("memoryPerGpuGb").GetDouble() > 0);
        var costs = root.GetProperty("costs").EnumerateArray().ToList();
        Assert.NotEmpty(costs);
        Assert.All(costs, c => Assert.True(c.GetProperty("totalUsd").GetDouble() > 0 && c.GetProperty("option").GetString()!.Length > 0));
    }

    [Fact]
    public async Task RunAsync_ServeJson_HasTheIssueFields()
    {
        var (code, stdout, _) = await Run("plan", "serve", "--params", "70e9", "--gpu", "nvidia-h100-sxm", "--gpus", "8", "--precision", "fp8",
            "--input-tokens", "1000", "--output-tokens", "1000", "-o", "json");

        Assert.Equal(ExitCodes.Ok, code);
        using var json = JsonDocument.Parse(stdout);
        Assert.True(json.RootElement.GetProperty("outputTokensPerSecond").GetDouble() > 0);
        Assert.True(json.RootElement.GetProperty("kvCacheGb").GetDouble() > 0);
        Assert.Equal(8, json.RootElement.GetProperty("gpusNeeded").GetInt32());
    }

    [Fact]
    public async Task RunAsync_TrainText_PrintsReportWithCostTable()
    {
        var (code, stdout, _) = await Run("plan", "train", "--params", "7e9", "--tokens", "1e12", "--gpu", "nvidia-h100-sxm", "--deadline", "30d");

        Assert.Equal(ExitCodes.Ok, code);
        Assert.Contains("GPU-hours", stdout);
        Assert.Contains("OPTION", stdout);
        Assert.Contains("formulas", stdout);
        Assert.Contains("assumptions", stdout);
    }

    [Fact]
    public async Task RunAsync_UnknownGpu_ExitsInvalidListingKnownOnes()
    {
        var (code, _, stderr) = await Run("plan", "train", "--params", "7e9", "--tokens", "1e12", "--gpu", "h100", "--gpus", "8");

        Assert.Equal(ExitCodes.Invalid, code);
        Assert.Contains("nvidia-h100-sxm", stderr);
    }

    [Fact]
    public async Task RunAsync_BadNumbers_ReportsEveryOne()
    {
        var (code, _, stderr) = await Run("plan", "train", "--params", "-7e9", "--tokens", "lots", "--gpu", "nvidia-h100-sxm", "--gpus", "8");

        Assert.Equal(ExitCodes.Invalid, code);
        Assert.Contains("--params", stderr);
        Assert.Contains("--tokens", stderr);
        Assert.DoesNotContain("NaN", stderr);
    }

    [Theory]
    [InlineData("--gpus", "0", "--gpus")]
    [InlineData("--gpus", "-8", "--gpus")]
    [InlineData("--deadline", "0d", "--deadline")]
    [InlineData("--seq-len", "0", "--seq-len")]
    [InlineData("--expert-parallel", "0", "--expert-parallel")]
    [InlineData("--expert-overlap", "2", "--expert-overlap")]
    public async Task RunAsync_ZeroOrNegative_ExitsInvalidNamingTheOption(string option, string value, string named)
    {
        string[] args = option is "--deadline" or "--gpus"
            ? ["plan", "train", "--params", "7e9", "--tokens", "1e12", "--gpu", "nvidia-h100-sxm", option, value]
            : ["plan", "train", "--params", "7e9", "--tokens", "1e12", "--gpu", "nvidia-h100-sxm", "--gpus", "8", option, value];

        var (code, stdout, stderr) = await Run(args);

        Assert.Equal(ExitCodes.Invalid, code);
        Assert.Contains(named, stderr);
        Assert.DoesNotContain("NaN", stderr + stdout);
        Assert.DoesNotContain("Exception", stderr);
    }

    [Fact]
    public async Task RunAsync_ModelFitsNoGpu_ExitsInvalidSayingWhatItNeeds()
    {
        var (code, _, stderr) = await Run("plan", "train", "--params", "1e15", "--tokens", "1e12", "--gpu", "nvidia-l40s", "--gpus", "8");

        Assert.Equal(ExitCodes.Invalid, code);
        Assert.Contains("does not fit", stderr);
        Assert.Contains("GB", stderr);
    }

    [Fact]
    public async Task RunAsync_ServeModelFitsNoServer_ExitsInvalid()
    {
        var (code, _, stderr) = await Run("plan", "serve", "--params", "5e12", "--gpu", "nvidia-h100-sxm", "--input-tokens", "1000", "--output-tokens", "1000");

        Assert.Equal(ExitCodes.Invalid, code);
        Assert.Contains("does not fit", stderr);
    }

    [Fact]
    public async Task RunAsync_ImpossibleDeadline_ExitsInvalidWithoutInfinity()
    {
        var (code, stdout, stderr) = await Run("plan", "train", "--params", "1e12", "--tokens", "1e14", "--gpu", "nvidia-a100-40gb", "--deadline", "1h");

        Assert.Equal(ExitCodes.Invalid, code);
        Assert.Contains("--deadline", stderr);
        Assert.DoesNotContain("∞", stderr + stdout);
        Assert.DoesNotContain("Infinity", stderr + stdout);
    }

    [Fact]
    public async Task RunAsync_TrainMixtureOfExperts_PrintsStepTableWithAllToAll()
    {
        var (code, stdout, _) = await Run("plan", "train", "--params", "47e9", "--active-params", "13e9", "--tokens", "1e12", "--gpu", "nvidia-h100-sxm",
            "--gpus", "256", "--tp", "2", "--pp", "4", "--expert-parallel", "16");

        Assert.Equal(ExitCodes.Ok, code);
        Assert.Contains("STEP PART", stdout);
        Assert.Contains("expert all-to-all (EP 16)", stdout);
        Assert.Contains("expert all-to-all per step", stdout);
    }

    [Fact]
    public async Task RunAsync_WorkloadFile_PlansLikeTheOptions()
    {
        var file = Path.GetTempFileName();
        try
        {
            await File.WriteAllTextAsync(file, "kind: train\nparams: 7e9\ntokens: 1e12\ngpu: nvidia-h100-sxm\ngpus: 64\n");
            var (fromFile, fileJson, _) = await Run("plan", "-f", file, "-o", "json");
            var (fromOptions, optionJson, _) = await Run("plan", "train", "--params", "7e9", "--tokens", "1e12", "--gpu", "nvidia-h100-sxm", "--gpus", "64", "-o", "json");

            Assert.Equal(ExitCodes.Ok, fromFile);
            Assert.Equal(ExitCodes.Ok, fromOptions);
            Assert.Equal(optionJson, fileJson);
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public async Task RunAsync_Validate_ListsPublishedRuns()
    {
        var (code, stdout, _) = await Run("plan", "validate");

        Assert.Equal(ExitCodes.Ok, code);
        Assert.Contains("BLOOM-176B", stdout);
        Assert.Contains("calibration", stdout);
    }

    private static async Task<(int Code, string Stdout, string Stderr)> Run(params string[] args)
    {
        using var stdout = new StringWriter();
        using var stderr = new StringWriter();
        var environment = new CliEnvironment { Out = stdout, Error = stderr, Variables = _ => null };
        var code = await StratumCommandLine.RunAsync(args, environment).WaitAsync(TimeSpan.FromSeconds(30));
        return (code, stdout.ToString(), stderr.ToString());
    }
}
