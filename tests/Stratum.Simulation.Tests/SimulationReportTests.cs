using Stratum.Scheduling;

namespace Stratum.Simulation.Tests;

public sealed class SimulationReportTests
{
    [Fact]
    public void Write_TwoPolicies_SvgChartsAndIndexNamingThem()
    {
        var trace = TraceText.Of((0, 100, 2), (10, 50, 4), (20, 5, 1));
        var cluster = SimulatedCluster.Uniform(1, 4);
        var results = new[] { Simulator.Run(trace, cluster, new FifoPolicy()), Simulator.Run(trace, cluster, new LasPolicy()) };
        var directory = Path.Combine(Path.GetTempPath(), $"stratum-report-{Guid.NewGuid():N}");
        try
        {
            var files = SimulationReport.Write(directory, results, cluster.TotalGpus);

            Assert.Equal(["index.html", "jct-cdf.svg", "project-share.svg", "utilization.svg"], files.Select(Path.GetFileName).Order(StringComparer.Ordinal));
            var index = File.ReadAllText(Path.Combine(directory, "index.html"));
            Assert.Contains("<td>fifo</td>", index, StringComparison.Ordinal);
            Assert.Contains("<td>las</td>", index, StringComparison.Ordinal);
            foreach (var svg in files.Where(f => f.EndsWith(".svg", StringComparison.Ordinal)))
            {
                var text = File.ReadAllText(svg);
                Assert.StartsWith("<svg", text, StringComparison.Ordinal);
                Assert.EndsWith("</svg>\n", text, StringComparison.Ordinal);
                Assert.Contains("las", text, StringComparison.Ordinal);
            }

            Assert.Equal(4, results[0].BusyGpus.Max(b => b.BusyGpus));
            Assert.Equal(0, results[0].BusyGpus[^1].BusyGpus);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }
}
