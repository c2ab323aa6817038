namespace Stratum.Simulation.Tests;

public sealed class PhillyTraceReaderTests
{
    [Fact]
    public void Read_UnsortedRows_JobsInSubmitOrderWithIds()
    {
        var trace = TraceText.Read(
            PhillyTraceReader.Header + "\n" +
            "2017-10-09 07:01:55,66.0,1,66.0,11cb48\n" +
            "2017-10-09 06:13:03,2951.0,2,5902.0,6214e9\n" +
            "2017-10-09 06:13:03,10.5,16,168.0,6214e9\n");

        Assert.Empty(trace.Problems);
        Assert.Equal([1L, 2L, 3L], trace.Jobs.Select(j => j.Id));
        Assert.Equal([2951.0, 10.5, 66.0], trace.Jobs.Select(j => j.Duration.TotalSeconds));
        Assert.Equal([2, 16, 1], trace.Jobs.Select(j => j.Gpus));
        Assert.Equal("6214e9", trace.Jobs[0].Project);
        Assert.Equal(new DateTimeOffset(2017, 10, 9, 6, 13, 3, TimeSpan.Zero), trace.Jobs[0].SubmittedAt);
    }

    [Fact]
    public void Read_MalformedRows_ReportedWithFileAndLineAndLeftOut()
    {
        var trace = TraceText.Read(
            PhillyTraceReader.Header + "\n" +
            "2017-10-09 07:01:55,66.0,1,66.0,a\n" +
            "yesterday,66.0,1,66.0,a\n" +
            "2017-10-09 07:01:55,-5,1,66.0,a\n" +
            "2017-10-09 07:01:55,5,1.5,66.0,a\n" +
            "2017-10-09 07:01:55,5,1,66.0\n" +
            "2017-10-09 07:01:55,5,1,5,\n");

        Assert.Single(trace.Jobs);
        Assert.Equal([3, 4, 5, 6, 7], trace.Problems.Select(p => p.Line));
        Assert.All(trace.Problems, p => Assert.Equal("test.csv", p.File));
        Assert.Contains("timestamp", trace.Problems[0].Message, StringComparison.Ordinal);
        Assert.Contains("duration", trace.Problems[1].Message, StringComparison.Ordinal);
        Assert.Contains("num_gpus", trace.Problems[2].Message, StringComparison.Ordinal);
        Assert.Contains("5 fields", trace.Problems[3].Message, StringComparison.Ordinal);
        Assert.StartsWith("test.csv:3: ", trace.Problems[0].ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Read_WrongHeader_OneProblemNoJobs()
    {
        var trace = TraceText.Read("time,dur,gpus\n2017-10-09 07:01:55,66.0,1\n");

        Assert.Empty(trace.Jobs);
        Assert.Equal(1, Assert.Single(trace.Problems).Line);
    }
}
