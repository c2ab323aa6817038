namespace Stratum.Scheduling;

/// <summary>
/// The fair-share arithmetic the planning policies order by, public so that what the API reports
/// (GET /api/v1/fair-share) is what the scheduler computed, not a copy of the formula.
/// </summary>
public static class FairShareFormula
{
    /// <summary>The largest of a project's shares of the cluster's CPU, memory and accelerators now, 0..1.</summary>
    public static double DominantShare(double cpu, double memory, double gpus, double totalCpu, double totalMemory, double totalGpus) =>
        Math.Min(1, Math.Max(Share(cpu, totalCpu), Math.Max(Share(memory, totalMemory), Share(gpus, totalGpus))));

    /// <summary>
    /// Priority points taken off a project's jobs, 0..<paramref name="weight"/>: the mean of its part of all
    /// decayed usage and its dominant share now. Projects have equal shares.
    /// </summary>
    public static double Penalty(double weight, double usageShare, double dominantShare) => weight * (usageShare + dominantShare) / 2;

    private static double Share(double used, double total) => total > 0 ? used / total : 0;
}
