namespace LstmGen;

/// <summary>
/// A generated LSTM: the members of <see cref="IRecurrentModel{TState}"/>, with a state that also holds c
/// (<see cref="ILstmState"/>). Code written for LSTMs and GRUs alike takes <see cref="IRecurrentModel{TState}"/>.
/// </summary>
/// <typeparam name="TState">The model's nested <c>State</c> class.</typeparam>
public interface ILstmModel<TState> : IRecurrentModel<TState> where TState : class, ILstmState
{
}
