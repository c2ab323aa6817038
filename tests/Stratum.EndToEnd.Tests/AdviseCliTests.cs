using Stratum.Client.Contracts;

namespace Stratum.EndToEnd.Tests;

/// <summary>`stratum advise` as a user runs it, against a real `stratum up`.</summary>
public sealed class AdviseCliTests(ServerFixture fixture) : IClassFixture<ServerFixture>
{
    [Fact]
    public async Task Advise_FreshCluster_JsonIsAnEmptyListAndTextSaysNothingLooksWasted()
    {
        var json = await fixture.RunJsonAsync<List<RecommendationDto>>("advise", "--since", "1h");
        var text = await fixture.RunAsync("advise");

        Assert.Empty(json);
        Assert.True(text.ExitCode == 0, text.ToString());
        Assert.Contains("no recommendations", text.Stdout + text.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Advise_BadSince_FailsNamingTheOption()
    {
        var result = await fixture.RunAsync("advise", "--since", "soon");

        Assert.NotEqual(0, result.ExitCode);
        Assert.Contains("since", result.Stderr, StringComparison.Ordinal);
    }
}
