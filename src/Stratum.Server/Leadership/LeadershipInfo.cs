using Stratum.Client.Contracts;
using Stratum.Server.Control;

namespace Stratum.Server.Leadership;

/// <summary>The leadership part of <c>/api/v1/info</c>.</summary>
public static class LeadershipInfo
{
    public static LeadershipDto Describe(LeaderElector leadership, ClusterController controller)
    {
        ArgumentNullException.ThrowIfNull(leadership);
        ArgumentNullException.ThrowIfNull(controller);
        var leading = leadership.CurrentFence is not null;
        var known = leadership.KnownLease;
        return new LeadershipDto(
            leadership.Replica,
            leading,
            known?.Holder,
            known?.FencingToken,
            known?.ExpiresAt,
            leading ? controller.PassesAsLeader : 0);
    }
}
