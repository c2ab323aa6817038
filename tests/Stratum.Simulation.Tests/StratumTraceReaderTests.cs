namespace Stratum.Simulation.Tests;

public sealed class StratumTraceReaderTests
{
    [Fact]
    public void ReadCsv_ColumnsInAnyOrderWithOptionalFields_JobsInSubmitOrder()
    {
        const string csv = "project,gpus,duration,submit,priority,preemptible,gpuType,user\n"
            + "vision,4,2h,2025-01-01T00:10:00Z,5,false,h100,ada\n"
            + "nlp,1,30,2025-01-01T00:00:00Z,,,,\n";

        var trace = StratumTraceReader.ReadCsv(new StringReader(csv), "t.csv");

        Assert.Empty(trace.Problems);
        Assert.Equal(["nlp", "vision"], trace.Jobs.Select(j => j.Project));
        Assert.Equal([1L, 2L], trace.Jobs.Select(j => j.Id));
        var vision = trace.Jobs[1];
        Assert.Equal(TimeSpan.FromHours(2), vision.Duration);
        Assert.Equal(5, vision.Priority);
        Assert.False(vision.Preemptible);
        Assert.Equal("h100", vision.GpuType);
        Assert.Equal("ada", vision.User);
        Assert.True(trace.Jobs[0].Preemptible);
        Assert.Null(trace.Jobs[0].GpuType);
    }

    [Fact]
    public void ReadCsv_BadRows_ReportedWithLineAndSkipped()
    {
        const string csv = "submit,duration,gpus,project\n0,10,1,a\n5,ten,1,a\n7,10,-1,a\n9,10,2\n10,10,2,b\n";

        var trace = StratumTraceReader.ReadCsv(new StringReader(csv), "t.csv");

        Assert.Equal(2, trace.Jobs.Count);
        Assert.Equal(["t.csv:3", "t.csv:4", "t.csv:5"], trace.Problems.Select(p => $"{p.File}:{p.Line}"));
        Assert.Contains("duration 'ten'", trace.Problems[0].Message, StringComparison.Ordinal);
        Assert.Contains("gpus '-1'", trace.Problems[1].Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ReadCsv_HeaderMissingColumns_NamesThem()
    {
        var trace = StratumTraceReader.ReadCsv(new StringReader("submit,gpus\n0,1\n"), "t.csv");

        Assert.Empty(trace.Jobs);
        Assert.Contains("missing duration, project", Assert.Single(trace.Problems).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ReadJsonLines_ObjectsAndBadLines()
    {
        const string jsonl = "{\"submit\": 0, \"duration\": 60, \"gpus\": 2, \"project\": \"a\", \"preemptible\": false}\n"
            + "not json\n"
            + "{\"submit\": 10, \"duration\": \"1m\", \"gpus\": 1, \"project\": \"b\", \"priority\": -3}\n";

        var trace = StratumTraceReader.ReadJsonLines(new StringReader(jsonl), "t.jsonl");

        Assert.Equal(2, trace.Jobs.Count);
        Assert.False(trace.Jobs[0].Preemptible);
        Assert.Equal(-3, trace.Jobs[1].Priority);
        Assert.Equal(TimeSpan.FromMinutes(1), trace.Jobs[1].Duration);
        Assert.Equal(2, Assert.Single(trace.Problems).Line);
    }
}
