using Stratum.Core.Jobs;
using Stratum.Core.Resources;

namespace Stratum.Persistence.Tests;

/// <summary>A spec's inputs, outputs and checkpoints, and an attempt's store commits, as both stores keep them (JSON in TEXT columns).</summary>
public sealed class JobDataPersistenceTests
{
    [Fact]
    public void Spec_WithInputsOutputsAndCheckpoints_RoundTrips()
    {
        var spec = new JobSpec
        {
            Name = "train",
            Project = "vision",
            Command = ["python3", "train.py"],
            Resources = new ResourceVector(1000, 1L << 30),
            Inputs = [new JobInput { Repository = "images", Ref = "v1", Path = "train", MountAs = "data", Commit = new string('a', 64) }, new JobInput { Repository = "labels" }],
            Outputs = [new JobOutput { Path = "out", Repository = "models", Branch = "main", To = "run-1", Message = "trained" }],
            Checkpoints = new JobCheckpoints { Repository = "ckpts" },
        };

        var read = PersistenceJson.ReadSpec(PersistenceJson.WriteSpec(spec));

        Assert.Equal(spec.Inputs, read.Inputs);
        Assert.Equal(spec.Outputs, read.Outputs);
        Assert.Equal(spec.Checkpoints, read.Checkpoints);
        Assert.Equal("job-7", read.Checkpoints!.BranchFor(7));
    }

    [Fact]
    public void SpecWrittenBeforeJobsUsedTheStore_ReadsWithNone()
    {
        const string older = """{"name":"a","project":"p","command":["true"],"resources":{"cpuMillis":1000,"memoryBytes":1024},"replicas":1,"priority":0,"preemptible":false}""";
        var read = PersistenceJson.ReadSpec(older);
        Assert.Empty(read.Inputs);
        Assert.Empty(read.Outputs);
        Assert.Null(read.Checkpoints);
    }

    [Fact]
    public void AttemptStoreCommits_RoundTrip_AndOlderAttemptsHaveNone()
    {
        var commits = new List<StoreCommitRecord>
        {
            new(StoreCommitKind.Checkpoint, "ckpts", "job-7", new string('b', 64), null),
            new(StoreCommitKind.Output, "models", "main", new string('c', 64), "out"),
        };
        var attempt = new JobAttempt { Number = 1, Placement = [new ReplicaPlacement(0, "n1", [])], StartedAt = DateTimeOffset.UnixEpoch, StoreCommits = commits };

        var read = Assert.Single(PersistenceJson.ReadAttempts(PersistenceJson.WriteAttempts([attempt])));
        Assert.Equal(commits, read.StoreCommits);

        var plain = Assert.Single(PersistenceJson.ReadAttempts(PersistenceJson.WriteAttempts([attempt with { StoreCommits = [] }])));
        Assert.Empty(plain.StoreCommits);
    }
}
