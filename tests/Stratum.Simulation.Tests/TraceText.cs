using System.Globalization;

namespace Stratum.Simulation.Tests;

/// <summary>Small Philly-format traces written by the tests themselves: (second after T0, duration, GPUs) per job.</summary>
internal static class TraceText
{
    public static readonly DateTimeOffset T0 = new(2017, 10, 1, 0, 0, 0, TimeSpan.Zero);

    public static string Csv(params (int Second, double Duration, int Gpus)[] jobs) =>
        PhillyTraceReader.Header + "\n" + string.Concat(jobs.Select(j =>
            string.Create(CultureInfo.InvariantCulture, $"{T0.AddSeconds(j.Second):yyyy-MM-dd HH:mm:ss},{j.Duration},{j.Gpus},{j.Duration * j.Gpus},proj{j.Gpus % 3}\n")));

    public static Trace Read(string csv) => PhillyTraceReader.Read(new StringReader(csv), "test.csv");

    public static Trace Of(params (int Second, double Duration, int Gpus)[] jobs) => Read(Csv(jobs));

    /// <summary>Seconds from submit to finish of job <paramref name="id"/>.</summary>
    public static double Jct(SimulationResult result, long id)
    {
        var job = result.Jobs.Single(j => j.Id == id);
        return (job.FinishedAt!.Value - job.SubmittedAt).TotalSeconds;
    }
}
