using Stratum.Core.Jobs;
using Stratum.Core.Resources;

namespace Stratum.Core.Tests;

public sealed class JobSpecTests
{
    private static JobSpec Valid() => new()
    {
        Name = "train",
        Project = "vision",
        Command = ["python3", "train.py"],
        Resources = ResourceVector.Of(4, 16L << 30, "nvidia-h100", 2),
    };

    [Fact]
    public void Validate_ValidSpec_HasNoErrors() => Assert.Empty(Valid().Validate());

    [Fact]
    public void Validate_ReportsEveryProblemWithItsField()
    {
        var spec = Valid() with
        {
            Name = "../up",
            Project = "",
            Command = [],
            Replicas = 0,
            MaxRuntime = TimeSpan.Zero,
            Resources = new ResourceVector(0, -1),
            Environment = new Dictionary<string, string> { ["CUDA_VISIBLE_DEVICES"] = "0" },
            Retry = new RetryPolicy { MaxAttempts = 0 },
        };
        var fields = spec.Validate().Select(e => e.Field).ToHashSet();
        Assert.Superset(new HashSet<string> { "name", "project", "command", "replicas", "maxRuntime", "resources.cpu", "resources.memory", "environment.CUDA_VISIBLE_DEVICES", "retry.maxAttempts" }, fields);
    }

    [Fact]
    public void Validate_RelativeWorkingDirectory_IsRejected() =>
        Assert.Contains((Valid() with { WorkingDirectory = "data/run" }).Validate(), e => e.Field == "workingDirectory");

    [Theory]
    [InlineData("vision", true)]
    [InlineData("a.b-c_d", true)]
    [InlineData("Vision", false)]
    [InlineData("a/b", false)]
    [InlineData("..", false)]
    [InlineData("a..b", false)]
    [InlineData("-lead", false)]
    [InlineData("", false)]
    public void Names_IsValid(string name, bool valid) => Assert.Equal(valid, Names.IsValid(name));

    [Fact]
    public void Names_TooLong_IsRejected() => Assert.False(Names.IsValid(new string('a', 64)));

    [Fact]
    public void JobState_TerminalAndQueued_AreDisjoint()
    {
        foreach (var state in Enum.GetValues<JobState>())
        {
            Assert.False(state.IsTerminal() && state.IsQueued());
        }

        Assert.True(JobState.Preempted.IsQueued());
        Assert.False(JobState.Running.IsTerminal());
    }
}
