using Stratum.Persistence;

namespace Stratum.Server.Leadership;

/// <summary>The controller found, before acting, that its term had ended: it stops the iteration instead of launching or signalling.</summary>
public sealed class LeadershipLostException : Exception
{
    public LeadershipLostException()
    {
    }

    public LeadershipLostException(string message)
        : base(message)
    {
    }

    public LeadershipLostException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    public LeadershipLostException(LeaderFence fence)
        : base($"the lease term with fencing token {fence?.FencingToken} ended before this action")
    {
    }
}
