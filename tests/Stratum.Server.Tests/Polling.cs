namespace Stratum.Server.Tests;

/// <summary>Waits for what a running server does in the background (scheduling, telemetry, job ends).</summary>
internal static class Polling
{
    /// <summary>Asks <paramref name="probe"/> until <paramref name="done"/> holds for its answer, for at most 60 s.</summary>
    /// <exception cref="TimeoutException">60 s passed; the message names <paramref name="what"/> and the last answer.</exception>
    public static async Task<T> UntilAsync<T>(Func<Task<T>> probe, Func<T, bool> done, string what)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (true)
        {
            var value = await probe();
            if (done(value))
            {
                return value;
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"waited 60 s for {what}; last: {value}");
            }

            await Task.Delay(100);
        }
    }
}
