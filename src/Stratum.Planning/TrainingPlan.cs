namespace Stratum.Planning;

/// <summary>Tensor, pipeline and data parallel degrees (t·p·d = GPUs) and how memory is saved.</summary>
public sealed record ParallelLayout(int Tensor, int Pipeline, int Data, int ZeroStage, string Recompute, int FullyRecomputedLayers, int MicroBatchesPerStep, int InterleavedChunks)
{
    public int ModelParallel => Tensor * Pipeline;

    public override string ToString() => $"TP {Tensor} x PP {Pipeline} x DP {Data}";
}

/// <summary>One optimiser step: compute against the communication that is not hidden behind it.</summary>
public sealed record StepBreakdown(
    double StepSeconds,
    double ComputeSeconds,
    double PipelineBubbleSeconds,
    double TensorParallelSeconds,
    double DataParallelSeconds,
    double DataParallelExposedSeconds,
    double PipelineSendSeconds,
    double DataParallelGbPerGpu,
    double TensorParallelGbPerGpu,
    double PipelineGbPerGpu,
    double ExposedCommunicationFraction,
    bool NetworkBound,
    string Bottleneck,
    double ExpertAllToAllSeconds = 0,
    double ExpertAllToAllExposedSeconds = 0,
    double ExpertAllToAllGbPerGpu = 0,
    int ExpertParallel = 1);

public sealed record StoragePlan(double DatasetTb, double CheckpointTb, double TotalTb, double CheckpointWriteGBps, double CheckpointIntervalHours);

/// <summary>The answer to a training or fine-tuning question, with its working.</summary>
public sealed record TrainingPlan(
    string Gpu,
    int Gpus,
    string Precision,
    string Method,
    double Parameters,
    double ActiveParameters,
    double Tokens,
    double TotalFlops,
    double FlopsPerToken,
    double Mfu,
    double Goodput,
    double AchievedTflopsPerGpu,
    double GpuHours,
    double WallClockDays,
    double? DeadlineDays,
    double MemoryPerGpuGb,
    double GpuMemoryGb,
    MemoryBreakdown Memory,
    ParallelLayout Layout,
    ParallelLayout SmallestLayout,
    StepBreakdown Step,
    StoragePlan Storage,
    PowerPlan Power,
    IReadOnlyList<CostOption> Costs,
    CostOption? Cheapest,
    ResolvedModel Model,
    Working Working);
