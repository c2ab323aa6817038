namespace Stratum.Planning;

/// <summary>How much of the activations is kept for the backward pass (Korthikanti et al. 2022).</summary>
public enum Recompute
{
    /// <summary>Keep everything: sbh(34 + 5as/h) bytes per layer.</summary>
    None,

    /// <summary>Recompute only the attention score/softmax part: sbh·34 bytes per layer.</summary>
    Selective,

    /// <summary>Keep only each layer's input (2sbh bytes) and recompute the whole layer (one extra forward).</summary>
    Full,

    /// <summary>Selective, plus full recomputation of just enough layers to fit (Megatron's --recompute-num-layers).</summary>
    Auto,
}

/// <summary>Bytes per GPU by kind, in GB (1e9 bytes).</summary>
public sealed record MemoryBreakdown(double WeightsGb, double GradientsGb, double OptimizerGb, double ActivationsGb, double TotalGb);

/// <summary>
/// Memory formulas. Model states follow Rajbhandari et al. 2020 (ZeRO): mixed-precision Adam keeps
/// 2 bytes of weights, 2 of gradients and K = 12 of optimiser state (fp32 master, momentum, variance)
/// per parameter; ZeRO-1 shards the 12, ZeRO-2 also the gradients, ZeRO-3 also the weights, over the
/// data-parallel degree. Activations follow Korthikanti et al. 2022 ("Reducing Activation
/// Recomputation in Large Transformer Models"), with tensor and sequence parallelism dividing by t.
/// </summary>
public static class MemoryModel
{
    public const double OptimizerBytesPerParameter = 12;

    /// <summary>Model-state bytes per GPU for <paramref name="parameters"/> sharded over t·p and, by ZeRO stage, over d.</summary>
    public static (double Weights, double Gradients, double Optimizer) ModelStates(
        double parameters, int tensor, int pipeline, int data, int zeroStage, double weightBytes = 2, double gradientBytes = 2)
    {
        var perReplica = parameters / (tensor * pipeline);
        var weights = weightBytes * perReplica / (zeroStage >= 3 ? data : 1);
        var gradients = gradientBytes * perReplica / (zeroStage >= 2 ? data : 1);
        var optimizer = OptimizerBytesPerParameter * perReplica / (zeroStage >= 1 ? data : 1);
        return (weights, gradients, optimizer);
    }

    /// <summary>Activation bytes of one transformer layer for one micro-batch (Korthikanti et al. 2022, section 4).</summary>
    public static double ActivationBytesPerLayer(double sequence, double microBatch, double hidden, double heads, int tensor, Recompute recompute) => recompute switch
    {
        Recompute.None => sequence * microBatch * hidden * (34 + (5 * heads * sequence / hidden)) / tensor,
        Recompute.Selective or Recompute.Auto => sequence * microBatch * hidden * 34 / tensor,
        _ => 2 * sequence * microBatch * hidden / tensor,
    };

    /// <summary>
    /// Activation bytes on the busiest (first) pipeline stage: under 1F1B it holds p micro-batches in
    /// flight of L/p layers each, so L layers' worth whatever p is; plus the fp32 logits of one micro-batch.
    /// </summary>
    public static double ActivationBytes(ResolvedModel model, double sequence, int tensor, Recompute recompute, int fullyRecomputedLayers = 0)
    {
        var kept = recompute == Recompute.Auto ? Recompute.Selective : recompute;
        var full = Math.Clamp(fullyRecomputedLayers, 0, model.Layers);
        return ((model.Layers - full) * ActivationBytesPerLayer(sequence, 1, model.Hidden, model.Heads, tensor, kept))
            + (full * ActivationBytesPerLayer(sequence, 1, model.Hidden, model.Heads, tensor, Recompute.Full))
            + (4.0 * sequence * model.Vocabulary / tensor);
    }
}
