using System.Text.RegularExpressions;
using Stratum.Scheduling;

namespace Stratum.Simulation.Tests;

/// <summary>The report's charts read without the code beside them: named projects, labelled axes, the numbers in the page.</summary>
public sealed partial class SimulationReportAxesTests
{
    [Fact]
    public void Write_Projects_EveryBarIsNamedAndThePageTablesShareAgainstEntitlement()
    {
        var trace = TraceText.Of((0, 100, 2), (10, 50, 4), (20, 5, 1));
        var cluster = SimulatedCluster.Uniform(1, 4);
        var results = new[] { Simulator.Run(trace, cluster, new FifoPolicy()), Simulator.Run(trace, cluster, new LasPolicy()) };
        var directory = Path.Combine(Path.GetTempPath(), $"stratum-report-axes-{Guid.NewGuid():N}");
        try
        {
            SimulationReport.Write(directory, results, cluster.TotalGpus);

            var shares = File.ReadAllText(Path.Combine(directory, "project-share.svg"));
            var labels = TextElements().Matches(shares).Select(m => m.Groups[1].Value).ToList();
            foreach (var project in results[0].Metrics.Projects.Select(p => p.Project))
            {
                Assert.Contains(project, labels);
            }

            var index = File.ReadAllText(Path.Combine(directory, "index.html"));
            var first = results[0].Metrics.Projects[0];
            Assert.Contains($"<tr><td>{first.Project}</td><td>{first.Entitlement.ToString("P1", System.Globalization.CultureInfo.InvariantCulture)}</td>", index, StringComparison.Ordinal);
            Assert.Contains("<th>las share</th>", index, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact]
    public void Write_AxesHaveTickLabels()
    {
        var trace = TraceText.Of((0, 7200, 2), (10, 50, 4), (20, 5, 1));
        var cluster = SimulatedCluster.Uniform(1, 4);
        var directory = Path.Combine(Path.GetTempPath(), $"stratum-report-axes-{Guid.NewGuid():N}");
        try
        {
            SimulationReport.Write(directory, [Simulator.Run(trace, cluster, new FifoPolicy())], cluster.TotalGpus);

            var utilisation = TextElements().Matches(File.ReadAllText(Path.Combine(directory, "utilization.svg"))).Select(m => m.Groups[1].Value).ToList();
            Assert.Contains("100 %", utilisation);
            Assert.Contains(utilisation, l => l.EndsWith(" h", StringComparison.Ordinal) && l != "0 h");
            var cdf = TextElements().Matches(File.ReadAllText(Path.Combine(directory, "jct-cdf.svg"))).Select(m => m.Groups[1].Value).ToList();
            Assert.Contains("1 s", cdf);
            Assert.Contains("100 s", cdf);
            Assert.Contains("1", cdf);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [GeneratedRegex("<text[^>]*>([^<]*)</text>")]
    private static partial Regex TextElements();
}
