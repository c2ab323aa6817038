using Stratum.Cli;

namespace Stratum.EndToEnd.Tests.Cli;

/// <summary>Job ids on the command line, in process: a word that is not an id is named in the user's terms.</summary>
public sealed class JobIdArgumentTests
{
    [Theory]
    [InlineData("why")]
    [InlineData("show")]
    [InlineData("cancel")]
    public async Task JobsCommand_IdThatIsNotANumber_SaysSoInTheUsersTerms(string verb)
    {
        var (code, _, stderr) = await RunAsync("jobs", verb, "abc");

        Assert.Equal(ExitCodes.Usage, code);
        Assert.Contains("'abc' is not a job id", stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("System.Int64", stderr, StringComparison.Ordinal);
    }

    private static async Task<(int Code, string Stdout, string Stderr)> RunAsync(params string[] args)
    {
        using var stdout = new StringWriter();
        using var stderr = new StringWriter();
        var environment = new CliEnvironment { Out = stdout, Error = stderr, Variables = _ => null };

        var code = await StratumCommandLine.RunAsync(args, environment).WaitAsync(TimeSpan.FromSeconds(30));

        return (code, stdout.ToString(), stderr.ToString());
    }
}
