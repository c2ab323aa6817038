using Stratum.Core.Jobs;
using Stratum.Core.Resources;

namespace Stratum.Core.Tests;

public sealed class JobDataRulesTests
{
    private static JobSpec Valid() => new()
    {
        Name = "train",
        Project = "vision",
        Command = ["python3", "train.py"],
        Resources = ResourceVector.Of(4, 16L << 30),
        Inputs = [new JobInput { Repository = "imagenet", Ref = "v1~2", Path = "train/", MountAs = "data/imagenet" }, new JobInput { Repository = "labels" }],
        Outputs = [new JobOutput { Path = "out/model", Repository = "models", Branch = "main", To = "llama/" }],
        Checkpoints = new JobCheckpoints { Repository = "ckpts" },
    };

    [Fact]
    public void Validate_ValidInputsOutputsAndCheckpoints_HaveNoErrors() => Assert.Empty(Valid().Validate());

    [Fact]
    public void Validate_NamesEachBadField()
    {
        var spec = Valid() with
        {
            Inputs =
            [
                new JobInput { Repository = "Bad_Repo", Ref = "main:x", Path = "../etc", MountAs = "/abs" },
                new JobInput { Repository = "labels", MountAs = "labels" },
                new JobInput { Repository = "more", MountAs = "labels/inner" },
            ],
            Outputs = [new JobOutput { Path = "labels/x", Repository = "models", Branch = "-bad", To = "a//b" }, new JobOutput { Path = "", Repository = "", Branch = "" }],
            Checkpoints = new JobCheckpoints { Repository = "x", Branch = "a/b" },
        };

        var errors = spec.Validate().ToDictionary(e => e.Field, e => e.Message);

        Assert.Equal(
            new[]
            {
                "checkpoints.branch", "checkpoints.repo", "inputs[0].mountAs", "inputs[0].path", "inputs[0].ref", "inputs[0].repo", "inputs[2].mountAs",
                "outputs[0].branch", "outputs[0].path", "outputs[0].to", "outputs[1].branch", "outputs[1].path", "outputs[1].repo",
            },
            errors.Keys.Order(StringComparer.Ordinal).ToArray());
        Assert.Contains("overlaps the directory of another input ('labels')", errors["inputs[2].mountAs"]);
        Assert.Contains("overlaps the read-only input directory 'labels'", errors["outputs[0].path"]);
        Assert.Contains("without empty, '.' or '..' parts", errors["inputs[0].path"]);
    }

    [Theory]
    [InlineData("main", true)]
    [InlineData("v1.2_rc-1", true)]
    [InlineData("main~", true)]
    [InlineData("main~3", true)]
    [InlineData("0123456789abcdef", true)]
    [InlineData("", false)]
    [InlineData("main~x", false)]
    [InlineData("a b", false)]
    [InlineData("repo@main", false)]
    [InlineData(".hidden", false)]
    public void ReferenceProblem_AcceptsRefSyntaxOnly(string reference, bool ok) =>
        Assert.Equal(ok, JobDataRules.ReferenceProblem(reference) is null);

    [Fact]
    public void Input_WithoutMountAs_MountsAtTheRepositoryName_AndPinsAsRepoAtCommit()
    {
        var input = new JobInput { Repository = "imagenet", Ref = "main", Commit = "abc" };
        Assert.Equal("imagenet", input.MountDirectory);
        Assert.Equal("imagenet@abc", input.Pinned);
    }
}
