namespace Stratum.Core.Jobs;

/// <summary>The variables Stratum sets in every replica's environment.</summary>
public static class JobEnvironment
{
    public const string JobId = "STRATUM_JOB_ID";
    public const string ReplicaRank = "STRATUM_REPLICA_RANK";
    public const string WorldSize = "STRATUM_WORLD_SIZE";
    public const string CheckpointDir = "STRATUM_CHECKPOINT_DIR";
    public const string Attempt = "STRATUM_ATTEMPT";
    public const string VisibleDevices = "CUDA_VISIBLE_DEVICES";
}
