namespace RdmaCs.Protocol;

/// <summary>The peer sent something this side cannot accept (bad bytes, wrong version, wrong token, wrong table...).</summary>
public class ProtocolException(string message) : Exception(message);

/// <summary>The peer went away: the control connection closed or broke.</summary>
public sealed class PeerLostException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>The peer gave up and sent its reason.</summary>
public sealed class PeerReportedException(string reason) : Exception($"the peer reported: {reason}")
{
    public string Reason { get; } = reason;
}
