namespace Stratum.Simulation.Tests;

/// <summary>Trace input that used to replay as nonsense or read badly, found by running the real command.</summary>
public sealed class TraceInputAuditTests
{
    [Fact]
    public void ReadCsv_SecondsThenIsoTimes_TheLaterKindIsReportedNotReplayedDecadesApart()
    {
        const string csv = "submit,duration,gpus,project\n0,3600,8,vision\n2025-01-01T00:10:00Z,30m,1,nlp\n60,10,1,nlp\n";

        var trace = StratumTraceReader.ReadCsv(new StringReader(csv), "t.csv");

        Assert.Equal(2, trace.Jobs.Count);
        var problem = Assert.Single(trace.Problems);
        Assert.Equal(3, problem.Line);
        Assert.Contains("line 2 gave seconds", problem.Message, StringComparison.Ordinal);
        Assert.True((trace.Jobs[^1].SubmittedAt - trace.Jobs[0].SubmittedAt) < TimeSpan.FromDays(1));
    }

    [Fact]
    public void ReadJsonLines_IsoTimeThenSeconds_TheSecondsRowIsReported()
    {
        const string jsonl = "{\"submit\": \"2025-01-01T00:00:00Z\", \"duration\": 60, \"gpus\": 1, \"project\": \"a\"}\n"
            + "{\"submit\": 30, \"duration\": 60, \"gpus\": 1, \"project\": \"a\"}\n";

        var trace = StratumTraceReader.ReadJsonLines(new StringReader(jsonl), "t.jsonl");

        Assert.Single(trace.Jobs);
        Assert.Contains("line 1 gave an ISO-8601 time", Assert.Single(trace.Problems).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ReadJsonLines_NotJson_SaysWhereInTheLineWithoutTheParsersOwnLineZero()
    {
        var trace = StratumTraceReader.ReadJsonLines(new StringReader("{\"submit\": 0, \"duration\": 1, \"gpus\": 1, \"project\": \"a\"}\nnot json\n"), "t.jsonl");

        var problem = Assert.Single(trace.Problems);
        Assert.Equal(2, problem.Line);
        Assert.Contains("(column 2)", problem.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("LineNumber", problem.Message, StringComparison.Ordinal);
    }
}
