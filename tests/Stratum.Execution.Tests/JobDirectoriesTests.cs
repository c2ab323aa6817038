namespace Stratum.Execution.Tests;

public sealed class JobDirectoriesTests
{
    private readonly JobDirectories _directories = new("/data/jobs");

    [Fact]
    public void Paths_ForJob42_FollowDocumentedLayout()
    {
        Assert.Equal("/data/jobs/42", _directories.JobDirectory(42));
        Assert.Equal("/data/jobs/42/attempt-1/replica-0", _directories.ReplicaDirectory(42, 1, 0));
        Assert.Equal("/data/jobs/42/attempt-2/replica-3/stdout.log", _directories.LogPath(42, 2, 3, LogStream.Stdout));
        Assert.Equal("/data/jobs/42/attempt-2/replica-3/stderr.log", _directories.LogPath(42, 2, 3, LogStream.Stderr));
        Assert.Equal("/data/jobs/42/checkpoints", _directories.CheckpointDirectory(42));
        Assert.Equal("/data/jobs/42/work-5", _directories.WorkingDirectory(42, 5));
    }

    [Fact]
    public void Constructor_RelativeRoot_MadeAbsolute()
    {
        var directories = new JobDirectories("relative/jobs");

        Assert.True(Path.IsPathRooted(directories.Root));
        Assert.EndsWith("/relative/jobs", directories.Root);
    }

    [Theory]
    [InlineData(-1, 1, 0)]
    [InlineData(1, 0, 0)]
    [InlineData(1, 1, -1)]
    public void ReplicaDirectory_OutOfRangeArguments_Throw(long jobId, int attempt, int rank) =>
        Assert.Throws<ArgumentOutOfRangeException>(() => _directories.ReplicaDirectory(jobId, attempt, rank));
}
